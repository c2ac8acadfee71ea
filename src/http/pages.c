/*
 * pages.c -- the plain pages Flask/Werkzeug answer with when no route
 * matches, the method is wrong, or the application crashed. MLflow's
 * tracking and scoring servers both send them, and clients key on their
 * status, so keel's fronts answer with the same bytes.
 */
#include "http/http.h"

const char http_page_404[] =
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n";
const char http_page_405[] =
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
    "<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n";
const char http_page_500[] =
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable "
    "to complete your request. Either the server is overloaded or there is an error in the "
    "application.</p>\n";

void http_respond_text(struct http_response *resp, int status, const char *content_type,
                       const char *text)
{
    resp->status = status;
    resp->content_type = content_type;
    kbuf_reset(&resp->body);
    kbuf_adds(&resp->body, text);
}

void http_respond_page(struct http_response *resp, int status)
{
    const char *page = status == 404 ? http_page_404 : status == 405 ? http_page_405
                                                                     : http_page_500;
    http_respond_text(resp, status == 404 || status == 405 ? status : 500,
                      "text/html; charset=utf-8", page);
}
