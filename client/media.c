/* media.c - a short table of the media types case files carry. */
#include <string.h>

#include "media.h"

static const struct {
	const char *ext, *type;
} media_types[] = {
	{ "pdf", "application/pdf" }, { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
	{ "png", "image/png" }, { "tif", "image/tiff" }, { "tiff", "image/tiff" },
	{ "gif", "image/gif" }, { "webp", "image/webp" }, { "txt", "text/plain" },
	{ "xml", "application/xml" }, { "json", "application/json" }, { "zip", "application/zip" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
};
#define N_MEDIA (sizeof(media_types) / sizeof(media_types[0]))

static int
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if ((*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a) !=
		    (*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b))
			return 0;
	return *a == *b;
}

const char *
media_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < N_MEDIA; i++)
		if (ascii_caseeq(dot + 1, media_types[i].ext))
			return media_types[i].type;
	return "application/octet-stream";
}

const char *
media_ext_of(const char *media_type)
{
	for (size_t i = 0; i < N_MEDIA; i++)
		if (ascii_caseeq(media_type, media_types[i].type))
			return media_types[i].ext;
	return "bin";
}
