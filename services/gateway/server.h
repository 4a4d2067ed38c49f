/*  server — HTTP/1.1 with libmicrohttpd, in front of the route table.

    A pool of threads, each with its own connections and its own bus
    connection. The server reads a request (refusing a URL over
    GW_URL_MAX with 414 and a body over GW_BODY_MAX with 413 before
    reading it), applies the route's rate limit, runs its handler, and
    sends the response with the headers every response carries; it counts
    and times each request for /metrics. Slow or silent clients are
    dropped after a timeout, so they cannot hold a thread.
*/
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gateway.h"

typedef struct _gw_server_t gw_server_t;

//  Listens on ADDRESS:PORT with THREADS threads. Returns NULL with ERROR
//  when it cannot (the port is taken, the address is not one of ours).
gw_server_t *gw_server_new (gateway_t *gateway, const char *address, int port, int threads,
                            char *error, size_t error_size);

//  Stops listening, finishes the requests in flight and joins the threads.
void gw_server_destroy (gw_server_t **self_p);

#endif
