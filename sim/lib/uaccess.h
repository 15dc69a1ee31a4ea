/*
 * Copies to and from the caller's memory that fail with -EFAULT instead of
 * crashing, like the kernel's copy_{from,to}_user.  The ioctl structs and
 * the arrays they point at are the program's real memory, so a bad pointer
 * has to be reported, not dereferenced.
 */
#ifndef ISIM_LIB_UACCESS_H
#define ISIM_LIB_UACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Whose memory "user" means.  By default (0) it is the calling process's
 * own, as for any caller of the library.  The preload library's fork
 * server runs an ioctl that a forked child sent it with the child's pid
 * set here for the calling thread, so the ioctl's user copies reach the
 * child's memory, as the kernel's copies reach the caller's.  0 restores
 * the default.  Returns the previous setting, to restore afterwards.
 */
pid_t isim_uaccess_set_pid(pid_t pid);
/* That setting: 0 (the default) means the calling process itself. */
pid_t isim_uaccess_pid(void);

int isim_copy_from_user(void *dst, const void *usrc, size_t len);
int isim_copy_to_user(void *udst, const void *src, size_t len);
/*
 * copy_struct_from_user(): @usize bytes of the caller's struct into a
 * kernel struct of @ksize bytes.  Short structs are zero-extended; a longer
 * struct must have only zero bytes past @ksize (else -E2BIG).
 */
int isim_copy_struct_from_user(void *dst, size_t ksize, const void *usrc,
			       size_t usize);

static inline void *u64_to_user_ptr(uint64_t v)
{
	return (void *)(uintptr_t)v;
}

/*
 * @uptr + @off for a user pointer.  User pointers may be anything, NULL
 * included (the EFAULT paths rely on it), and C leaves arithmetic on NULL
 * undefined, so the sum is taken on the integer, as a __user pointer's
 * would be in the kernel.
 */
static inline void *user_ptr_add(const void *uptr, size_t off)
{
	return (void *)((uintptr_t)uptr + off);
}

#endif
