/* fsutil.c - atomic, durable writes and careful reads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "pu_err.h"

static int
errno_to_pu(int e)
{
	switch (e) {
	case EEXIST:
		return PU_ERR_EXISTS;
	case ENOENT:
	case ENOTDIR:
		return PU_ERR_NOT_FOUND;
	case ENOMEM:
		return PU_ERR_NOMEM;
	default:
		return PU_ERR_IO;
	}
}

int
dir_sync(const char *dir)
{
	int fd, rc = PU_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno_to_pu(errno);
	if (fsync(fd) != 0)
		rc = PU_ERR_IO;
	close(fd);
	return rc;
}

static int
fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		strcpy(dir, ".");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return PU_ERR_TOO_LARGE;
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return dir_sync(dir);
}

int
file_write_atomic(const char *path, const void *p, size_t n, mode_t mode, int how)
{
	char tmp[PATH_MAX];
	const uint8_t *b = p;
	int fd, rc = PU_OK;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return PU_ERR_TOO_LARGE;
	/* mkstemp opens with O_EXCL and mode 0600: a secret is never readable, even briefly. */
	if ((fd = mkstemp(tmp)) < 0)
		return errno_to_pu(errno);
	if (fchmod(fd, mode) != 0) {
		rc = errno_to_pu(errno);
		goto fail;
	}
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = errno_to_pu(errno);
			goto fail;
		}
		b += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = PU_ERR_IO;
		goto fail;
	}
	close(fd);
	fd = -1;
	if (how == FILE_REPLACE) {
		if (rename(tmp, path) != 0) {
			rc = errno_to_pu(errno);
			goto fail;
		}
	} else {
		/* link() refuses an existing target, so nothing is ever silently replaced. */
		if (link(tmp, path) != 0) {
			rc = errno_to_pu(errno);
			goto fail;
		}
		unlink(tmp);
	}
	return fsync_parent(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int
file_read_all(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0;
	int fd, rc = PU_OK;

	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno_to_pu(errno);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = PU_ERR_IO;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = PU_ERR_TOO_LARGE;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = PU_ERR_NOMEM;
		goto out;
	}
	while (have < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = PU_ERR_IO;
			goto out;
		}
		have += (size_t)r;
	}
	buf[have] = '\0';	/* text files can be used as C strings */
	*out = buf;
	*out_len = have;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int
file_check_secret(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno_to_pu(errno);
	return (st.st_mode & 077) ? PU_ERR_FILE_MODE : PU_OK;
}

int
dir_ensure(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return PU_OK;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return PU_OK;
	return errno_to_pu(errno);
}
