/*
 * User copies through process_vm_readv/writev on our own pid (or, while a
 * thread runs an ioctl on behalf of another process, on that process's
 * pid; see isim_uaccess_set_pid): the kernel checks the mapping and its
 * protection for us and answers EFAULT for an unmapped or (for writes)
 * read-only range, without a signal.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/lib/uaccess.h"

/* 0: the calling process itself. */
static __thread pid_t uaccess_pid;

pid_t isim_uaccess_set_pid(pid_t pid)
{
	pid_t old = uaccess_pid;

	uaccess_pid = pid;
	return old;
}

pid_t isim_uaccess_pid(void)
{
	return uaccess_pid;
}

static int vm_copy(void *local, void *remote, size_t len, int write)
{
	struct iovec l = { .iov_base = local, .iov_len = len };
	struct iovec r = { .iov_base = remote, .iov_len = len };
	pid_t pid = uaccess_pid ? uaccess_pid : getpid();
	ssize_t n;

	if (!len)
		return 0;
	n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0) :
		    process_vm_readv(pid, &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

int isim_copy_from_user(void *dst, const void *usrc, size_t len)
{
	return vm_copy(dst, (void *)usrc, len, 0);
}

int isim_copy_to_user(void *udst, const void *src, size_t len)
{
	return vm_copy((void *)src, udst, len, 1);
}

int isim_copy_struct_from_user(void *dst, size_t ksize, const void *usrc,
			       size_t usize)
{
	char buf[64];
	int rc;

	if (usize <= ksize) {
		memset((char *)dst + usize, 0, ksize - usize);
		return isim_copy_from_user(dst, usrc, usize);
	}
	for (size_t off = 0; off < usize - ksize; off += sizeof(buf)) {
		size_t n = usize - ksize - off;

		if (n > sizeof(buf))
			n = sizeof(buf);
		rc = isim_copy_from_user(buf, user_ptr_add(usrc, ksize + off),
					 n);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return -E2BIG;
	}
	return isim_copy_from_user(dst, usrc, ksize);
}
