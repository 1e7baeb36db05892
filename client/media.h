/*
 * media.h - media types of attachments: guessed from a file name when sending, and the
 * file extension a fetched attachment gets from its media type (never from its name, which
 * is the sender's untrusted text).
 */
#ifndef PU_CLIENT_MEDIA_H
#define PU_CLIENT_MEDIA_H

/* "application/pdf" for "acta.PDF"; "application/octet-stream" when unknown. */
const char *media_type_of(const char *name);
/* "pdf" for "application/pdf"; "bin" when unknown. */
const char *media_ext_of(const char *media_type);

#endif
