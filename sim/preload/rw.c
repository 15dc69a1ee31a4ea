/*
 * read and write for libiommufd-sim-preload: read, write, pread, pwrite
 * (and their 64-bit and fortified forms) on an fd that is ours go to the
 * file behind it, on any other fd to libc.  The fds the simulator hands out
 * (access, fault and vEVENTQ fds) are real eventfds, so poll() needs no
 * help; their reads and writes go to isim_read and isim_write, with -errno
 * turned into -1 and errno, and allow no position.  A fail-nth file's go
 * to fakefs.c; an iommufd has no read or write.
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

#include "sim/preload/preload.h"

static ssize_t file_read(struct pl_file *f, void *buf, size_t count,
			 off_t pos, bool use_pos)
{
	ssize_t rc;

	switch (f->kind) {
	case PL_ANON:
		if (use_pos) {
			rc = -ESPIPE;
			break;
		}
		pl_enter();
		rc = isim_read(f->ctx->ifd, f->fd, buf, count);
		pl_leave();
		break;
	case PL_FAILNTH:
		return pl_failnth_read(f, buf, count, pos, use_pos);
	default:
		rc = -EINVAL;	/* an iommufd has no read() */
		break;
	}
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

static ssize_t file_write(struct pl_file *f, const void *buf, size_t count,
			  bool use_pos)
{
	ssize_t rc;

	switch (f->kind) {
	case PL_ANON:
		if (use_pos) {
			rc = -ESPIPE;
			break;
		}
		pl_enter();
		rc = isim_write(f->ctx->ifd, f->fd, buf, count);
		pl_leave();
		break;
	case PL_FAILNTH:
		return pl_failnth_write(f, buf, count);
	default:
		rc = -EINVAL;
		break;
	}
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

#define WITH_FILE(fd, passthrough, call)                                   \
	do {                                                               \
		struct pl_file *f_;                                        \
		ssize_t rc_;                                               \
		if (pl_in_sim || !(f_ = pl_file_get(fd)))                  \
			return passthrough;                                \
		rc_ = call;                                                \
		pl_file_put(f_);                                           \
		return rc_;                                                \
	} while (0)

ssize_t read(int fd, void *buf, size_t count)
{
	WITH_FILE(fd, real_read()(fd, buf, count),
		  file_read(f_, buf, count, 0, false));
}

ssize_t write(int fd, const void *buf, size_t count)
{
	WITH_FILE(fd, real_write()(fd, buf, count),
		  file_write(f_, buf, count, false));
}

ssize_t pread(int fd, void *buf, size_t count, off_t pos)
{
	WITH_FILE(fd, real_pread()(fd, buf, count, pos),
		  file_read(f_, buf, count, pos, true));
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t pos)
{
	WITH_FILE(fd, real_pread64()(fd, buf, count, pos),
		  file_read(f_, buf, count, pos, true));
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t pos)
{
	WITH_FILE(fd, real_pwrite()(fd, buf, count, pos),
		  file_write(f_, buf, count, true));
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t pos)
{
	WITH_FILE(fd, real_pwrite64()(fd, buf, count, pos),
		  file_write(f_, buf, count, true));
}

ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen)
{
	if (count > buflen)
		return real___read_chk()(fd, buf, count, buflen); /* aborts */
	WITH_FILE(fd, real___read_chk()(fd, buf, count, buflen),
		  file_read(f_, buf, count, 0, false));
}

ssize_t __pread_chk(int fd, void *buf, size_t count, off_t pos,
		    size_t buflen)
{
	if (count > buflen)
		return real___pread_chk()(fd, buf, count, pos, buflen);
	WITH_FILE(fd, real___pread_chk()(fd, buf, count, pos, buflen),
		  file_read(f_, buf, count, pos, true));
}

ssize_t __pread64_chk(int fd, void *buf, size_t count, off64_t pos,
		      size_t buflen)
{
	if (count > buflen)
		return real___pread64_chk()(fd, buf, count, pos, buflen);
	WITH_FILE(fd, real___pread64_chk()(fd, buf, count, pos, buflen),
		  file_read(f_, buf, count, pos, true));
}
