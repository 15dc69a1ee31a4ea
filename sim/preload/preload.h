/*
 * Shared state of libiommufd-sim-preload, the LD_PRELOAD library that gives
 * unmodified programs a /dev/iommu backed by the simulator.  It declares the
 * "real" libc functions found with dlsym(RTLD_NEXT), the per-thread guard
 * that sends the simulator's own system calls straight to them, the table
 * of file descriptors the library owns (an iommufd, an fd the simulator
 * handed out, a fail-nth file), the lazily made process-wide machine, and
 * the hooks the source files offer each other: preload.c (files, ioctl,
 * fork), forward.c (the fork server), rw.c (read/write), log.c (the ioctl
 * log), fakefs.c (paths: /proc fail-nth, the fake debugfs and mock bus,
 * access/stat/opendir) and memory.c (mmap, munmap, mremap, hugetlb
 * emulation).
 */
#ifndef ISIM_PRELOAD_H
#define ISIM_PRELOAD_H

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "iommufd-sim/sim.h"

/*
 * Every libc function we interpose, with the type of the real one.  The
 * X-macro makes an enum slot, a name for dlsym and a typed accessor
 * real_<name>() per entry.
 */
#define PL_REAL_SYMS(X)                                                    \
	X(open, int, (const char *, int, ...))                             \
	X(open64, int, (const char *, int, ...))                           \
	X(openat, int, (int, const char *, int, ...))                      \
	X(openat64, int, (int, const char *, int, ...))                    \
	X(__open_2, int, (const char *, int))                              \
	X(__open64_2, int, (const char *, int))                            \
	X(__openat_2, int, (int, const char *, int))                       \
	X(__openat64_2, int, (int, const char *, int))                     \
	X(close, int, (int))                                               \
	X(dup, int, (int))                                                 \
	X(dup2, int, (int, int))                                           \
	X(dup3, int, (int, int, int))                                      \
	X(fcntl, int, (int, int, ...))                                     \
	X(fcntl64, int, (int, int, ...))                                   \
	X(ioctl, int, (int, unsigned long, ...))                           \
	X(read, ssize_t, (int, void *, size_t))                            \
	X(write, ssize_t, (int, const void *, size_t))                     \
	X(pread, ssize_t, (int, void *, size_t, off_t))                    \
	X(pread64, ssize_t, (int, void *, size_t, off64_t))                  \
	X(pwrite, ssize_t, (int, const void *, size_t, off_t))             \
	X(pwrite64, ssize_t, (int, const void *, size_t, off64_t))           \
	X(__read_chk, ssize_t, (int, void *, size_t, size_t))              \
	X(__pread_chk, ssize_t, (int, void *, size_t, off_t, size_t))      \
	X(__pread64_chk, ssize_t, (int, void *, size_t, off64_t, size_t))    \
	X(mmap, void *, (void *, size_t, int, int, int, off_t))            \
	X(mmap64, void *, (void *, size_t, int, int, int, off64_t))          \
	X(munmap, int, (void *, size_t))                                   \
	X(mremap, void *, (void *, size_t, size_t, int, ...))              \
	X(opendir, DIR *, (const char *))                                  \
	X(fopen, FILE *, (const char *, const char *))                     \
	X(fopen64, FILE *, (const char *, const char *))                   \
	X(access, int, (const char *, int))                                \
	X(faccessat, int, (int, const char *, int, int))                   \
	X(euidaccess, int, (const char *, int))                            \
	X(eaccess, int, (const char *, int))                               \
	X(stat, int, (const char *, struct stat *))                        \
	X(lstat, int, (const char *, struct stat *))                       \
	X(fstatat, int, (int, const char *, struct stat *, int))           \
	X(stat64, int, (const char *, struct stat64 *))                    \
	X(lstat64, int, (const char *, struct stat64 *))                   \
	X(fstatat64, int, (int, const char *, struct stat64 *, int))

#define PL_SYM_ENUM(name, ret, args) PL_SYM_##name,
enum pl_sym { PL_REAL_SYMS(PL_SYM_ENUM) PL_NR_SYMS };
#undef PL_SYM_ENUM

/* The next definition of @sym after ours; aborts if libc has none. */
void *pl_real_sym(enum pl_sym sym);

#define PL_SYM_ACCESSOR(name, ret, args)                                   \
	typedef ret(*pl_##name##_fn) args;                                 \
	static inline pl_##name##_fn real_##name(void)                     \
	{                                                                  \
		return (pl_##name##_fn)pl_real_sym(PL_SYM_##name);         \
	}
PL_REAL_SYMS(PL_SYM_ACCESSOR)
#undef PL_SYM_ACCESSOR

/*
 * Non-zero while this thread runs inside the simulator (or inside our own
 * bookkeeping that calls interposed names): every wrapper then passes the
 * call straight to libc.  The simulator opens /proc/self/maps, closes and
 * signals its eventfds and maps memory through the very symbols we
 * interpose, so without the guard it would recurse into itself.
 */
extern __thread int pl_in_sim __attribute__((tls_model("initial-exec")));

static inline void pl_enter(void)
{
	pl_in_sim++;
}

static inline void pl_leave(void)
{
	pl_in_sim--;
}

/* ------------------------------------------------------------ files */

enum pl_kind {
	PL_IOMMUFD = 1,	/* an open of /dev/iommu: /dev/null underneath */
	PL_ANON,	/* an fd the simulator handed out: its own eventfd */
	PL_FAILNTH,	/* /proc/.../fail-nth: a memfd underneath */
};

/*
 * An iommufd context.  The kernel keeps the context while the iommufd file
 * or any file or mapping that holds it (access, fault and vEVENTQ fds,
 * mmaps of the iommufd) is open; @refs counts exactly those.
 */
struct pl_ctx {
	atomic_int refs;
	struct isim_fd *ifd;
	/*
	 * The process whose simulator holds the context, and how its fork
	 * server is reached (forward.c): a forked child that
	 * inherited the fd sends its ioctls there.
	 */
	pid_t owner;
	uint64_t server;	/* @owner's server address nonce; 0: none */
	uint64_t id;		/* unique within @owner */
	struct pl_ctx *next;	/* @owner's list of live contexts */
};

/*
 * One open file description.  Several fd numbers (dup) may name it; @nfds
 * counts them and @refs counts those plus calls in flight.  @fd is the
 * number the file was made with: for PL_ANON it is the simulator's own
 * eventfd, which only isim_fd_close() may close.
 */
struct pl_file {
	atomic_int refs;
	int nfds;		/* under the table lock */
	enum pl_kind kind;
	int fd;
	struct pl_ctx *ctx;	/* PL_IOMMUFD, PL_ANON */
	pid_t tid;		/* PL_FAILNTH: the task the file is about */
};

/* The file behind @fd with a reference, or NULL when @fd is not ours. */
struct pl_file *pl_file_get(int fd);
/* Whether @fd is ours right now, without a reference. */
bool pl_file_peek(int fd);
void pl_file_put(struct pl_file *f);

void pl_ctx_get(struct pl_ctx *ctx);
void pl_ctx_put(struct pl_ctx *ctx);

/* The process-wide machine, made on first use; NULL with errno set. */
struct isim_machine *pl_machine(void);
/* The machine if it exists, without making it. */
struct isim_machine *pl_machine_peek(void);

/* Opens of the special files (fakefs.c classifies the path). */
int pl_open_iommufd(int flags);
int pl_open_failnth(pid_t tid, int flags);

/* fail-nth file I/O on the calling thread's counter (fakefs.c). */
ssize_t pl_failnth_read(struct pl_file *f, void *buf, size_t count,
			off_t pos, bool use_pos);
ssize_t pl_failnth_write(struct pl_file *f, const void *buf, size_t count);

/* ------------------------------------------------------- fork server */

/* Held across fork() (preload.c) so the child's copy is consistent. */
extern pthread_mutex_t pl_fwd_lock;
/* Make @ctx, just opened here, reachable from our children. */
void pl_fwd_register(struct pl_ctx *ctx);
/* Take @ctx, being released, off our list of live contexts. */
void pl_fwd_unlink(struct pl_ctx *ctx);
/*
 * Run an ioctl on @ctx, which another process opened, in that process.
 * False when its server cannot be reached; *@rc is the result otherwise.
 */
bool pl_fwd_ioctl(struct pl_ctx *ctx, unsigned long request, void *arg,
		  int *rc);

/* ------------------------------------------------------------ paths */

enum pl_path_class {
	PL_PATH_OTHER,		/* pass through untouched */
	PL_PATH_IOMMU,		/* /dev/iommu */
	PL_PATH_FAILNTH,	/* a fail-nth file of one of our threads */
	PL_PATH_REDIRECT,	/* fake debugfs or mock bus: see @buf */
};

/*
 * Classify an absolute @path.  PL_PATH_REDIRECT writes the path to use
 * instead into @buf (PATH_MAX bytes); PL_PATH_FAILNTH sets *@tid.
 */
enum pl_path_class pl_classify(const char *path, char *buf, pid_t *tid);
/* @path, or the redirected path in @buf, for path-only calls. */
const char *pl_redirect(const char *path, char *buf, bool *iommu);

/* ------------------------------------------------------------ memory */

/* mmap(2) of one of our files. */
void *pl_file_mmap(struct pl_file *f, void *addr, size_t len, int prot,
		   int flags, off_t off);
/* The program's mapping of [va, va + len) changed under the simulator. */
void pl_vm_forget(void *va, size_t len);
/* The simulator's isim_vm_folio_fn for the hugetlb memory emulated here. */
size_t pl_huge_folio(void *arg, uint64_t va);

/* ------------------------------------------------------------ log */

/*
 * With IOMMUFD_SIM_PRELOAD_LOG=<file>, one line per failed ioctl on an
 * iommufd ("pid name errno"), appended; for the kselftest runner's
 * summary of which operations fail (log.c).
 */
void pl_log_ioctl(unsigned long request, const void *arg, int rc);

/* Fortified entry points glibc declares only under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t count, off_t off,
		    size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t count, off64_t off,
		      size_t buflen);

#endif
