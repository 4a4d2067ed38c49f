/*  site — the web page's files, embedded in the gateway at build time by
    deploy/embed-site.sh from services/gateway/www, so a gateway serves
    them from memory and needs no files at run time (and no path from a
    URL ever reaches the file system). */
#ifndef GW_SITE_H
#define GW_SITE_H

#include <stddef.h>

typedef struct {
    const char *name;          //  "app.js"
    const unsigned char *data; //  its bytes
    size_t size;
} gw_site_file_t;

extern const gw_site_file_t gw_site_files[];
extern const size_t gw_site_file_count;

#endif
