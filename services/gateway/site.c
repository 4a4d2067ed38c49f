/*  site — the web page: index.html for every page's address (the page's
    script shows what the address names), and the files it loads. */
#include "site.h"

#include "gateway.h"

#include <microhttpd.h>
#include <string.h>

#define SITE_FILES_MAX 64

//  Each file's ETag, so a browser revalidates with one 304 after a visit.
static char s_etags[SITE_FILES_MAX][24];

void gw_site_init (void)
{
    for (size_t i = 0; i < gw_site_file_count && i < SITE_FILES_MAX; i++) {
        uint64_t hash = 0xcbf29ce484222325ULL;
        for (size_t b = 0; b < gw_site_files[i].size; b++) {
            hash ^= gw_site_files[i].data[b];
            hash *= 0x100000001b3ULL;
        }
        snprintf (s_etags[i], sizeof s_etags[i], "\"%016llx\"", (unsigned long long)hash);
    }
}

static const char *s_content_type (const char *name)
{
    static const struct {
        const char *extension, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".mjs", "text/javascript; charset=utf-8"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".ico", "image/x-icon"},
                 {".json", "application/json; charset=utf-8"},
                 {".webmanifest", "application/manifest+json"},
                 {".txt", "text/plain; charset=utf-8"}};
    const char *dot = strrchr (name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp (dot, types[i].extension) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int s_serve (gw_request_t *request, gw_response_t *response, const char *name)
{
    for (size_t i = 0; i < gw_site_file_count && i < SITE_FILES_MAX; i++) {
        if (strcmp (gw_site_files[i].name, name) != 0)
            continue;
        snprintf (response->etag, sizeof response->etag, "%s", s_etags[i]);
        //  Revalidate every time: a new release shows at once, and a
        //  visit costs a 304 per file.
        response->cache_control = "no-cache";
        response->content_type = s_content_type (name);
        const char *known = gw_header (request, MHD_HTTP_HEADER_IF_NONE_MATCH);
        if (known && strstr (known, s_etags[i])) {
            response->status = 304;
            return 0;
        }
        response->status = 200;
        response->body = (char *)gw_site_files[i].data;
        response->size = gw_site_files[i].size;
        response->body_static = true;
        return 0;
    }
    gw_error (response, 404, "not_found", "no file %s", name);
    return 0;
}

int gw_site_page (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    (void)gateway;
    return s_serve (request, response, "index.html");
}

int gw_site_static (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    (void)gateway;
    return s_serve (request, response, request->param);
}
