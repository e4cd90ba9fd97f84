"""Services of the page_snapshot example: the browser owner and the HTTP front end."""
