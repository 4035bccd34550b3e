/* A small real HTTP/1.1 server on 127.0.0.1 for upload tests, with fault
 * modes: fixed status, hang, garbage reply, closed connection. */
#ifndef PYROSCOPE_TEST_HTTP_SERVER_H
#define PYROSCOPE_TEST_HTTP_SERVER_H

#include <stddef.h>

typedef struct http_request {
    char *method;
    char *target;  /* path?query */
    char *headers; /* raw header block */
    unsigned char *body;
    size_t len;
} http_request;

enum http_mode {
    HTTP_OK = 0,      /* answer `status` (200 by default) */
    HTTP_HANG = 1,    /* read the request, never answer */
    HTTP_GARBAGE = 2, /* answer bytes that are not HTTP */
    HTTP_CLOSE = 3    /* close without answering */
};

typedef struct http_server http_server;

http_server *http_server_start(void);
int http_server_port(const http_server *s);
void http_server_set(http_server *s, int mode, int status);
/* Body of later HTTP_OK answers (at most 1023 bytes kept). */
void http_server_set_reply(http_server *s, const char *body);
/* Requests received so far (those answered 2xx and the others). */
size_t http_server_count(http_server *s);
/* Copy of request i; free with http_request_free. */
http_request *http_server_get(http_server *s, size_t i);
void http_request_free(http_request *r);
void http_server_stop(http_server *s);

/* Value of header `name` (case-insensitive), malloc'd, or NULL. */
char *http_header(const http_request *r, const char *name);
/* URL-decoded query parameter, malloc'd, or NULL. */
char *http_query(const http_request *r, const char *name);
/* Body of multipart field `name` (pointer into r->body), or NULL. */
const unsigned char *http_multipart(const http_request *r, const char *name,
                                    size_t *len);

#endif
