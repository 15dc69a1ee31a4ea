/*
 * libiommufd-sim-preload: the core of the LD_PRELOAD library that lets an
 * unmodified program (the kernel's iommufd selftest in particular) open
 * /dev/iommu and drive the simulator through ordinary system calls.  This
 * file owns the file side: the table of fds that are ours, the open family
 * (whose paths fakefs.c classifies), close and dup, and ioctl (an
 * iommufd's go to isim_ioctl, with -errno turned into -1 and errno);
 * read/write on the fds the simulator hands out are in rw.c, the ioctl log
 * in log.c.  Every other call, and every call the simulator itself makes
 * while it runs, goes to the next definition in libc.  One machine serves
 * the whole process and is made on the first open of /dev/iommu.  After
 * fork() a child's ioctls on an inherited iommufd go to the opening
 * process's fork server (forward.c), so they act on the one context as in
 * the kernel; everything else the child does works on its own copy of the
 * machine (see docs/kselftest.md).
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/lib/uaccess.h"
#include "sim/machine.h"
#include "sim/mm/vm.h"
#include "sim/preload/preload.h"

__thread int pl_in_sim __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------- real symbols */

#define PL_SYM_NAME(name, ret, args) [PL_SYM_##name] = #name,
static const char *const pl_sym_names[PL_NR_SYMS] = {
	PL_REAL_SYMS(PL_SYM_NAME)
};
#undef PL_SYM_NAME

static void *_Atomic pl_syms[PL_NR_SYMS];

static void pl_die(const char *what, const char *name)
{
	static const char pfx[] = "libiommufd-sim-preload: ";
	struct iovec iov[4] = {
		{ (void *)pfx, sizeof(pfx) - 1 },
		{ (void *)what, strlen(what) },
		{ (void *)name, strlen(name) },
		{ (void *)"\n", 1 },
	};

	/* Not write(): that is one of ours. */
	(void)!writev(2, iov, 4);
	abort();
}

void *pl_real_sym(enum pl_sym sym)
{
	void *p = atomic_load_explicit(&pl_syms[sym], memory_order_acquire);

	if (p)
		return p;
	p = dlsym(RTLD_NEXT, pl_sym_names[sym]);
	if (!p)
		pl_die("no libc definition of ", pl_sym_names[sym]);
	atomic_store_explicit(&pl_syms[sym], p, memory_order_release);
	return p;
}

/* ------------------------------------------------------------ machine */

static pthread_once_t machine_once = PTHREAD_ONCE_INIT;
static struct isim_machine *_Atomic machine;
static int machine_err;

/* CapEff of this process, from /proc/self/status; 0 if unreadable. */
static uint64_t effective_caps(void)
{
	char buf[4096], *p;
	uint64_t caps = 0;
	ssize_t n;
	int fd;

	fd = real_open()("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = real_read()(fd, buf, sizeof(buf) - 1);
	real_close()(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "\nCapEff:");
	if (p)
		caps = strtoull(p + 8, NULL, 16);
	return caps;
}

/*
 * The simulated process's capabilities: the host's (CapEff), unless
 * IOMMUFD_SIM_CAPS says "all" or gives a hex mask.  The kernel selftest
 * expects root with every capability; a container may lack some.
 */
static uint64_t simulated_caps(void)
{
	const char *env = getenv("IOMMUFD_SIM_CAPS");

	if (!env || !*env || !strcmp(env, "host"))
		return effective_caps();
	if (!strcmp(env, "all"))
		return ~0ull;
	return strtoull(env, NULL, 16);
}

static void machine_create(void)
{
	struct isim_machine_config cfg = { 0 };
	struct isim_machine *m = NULL;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t caps = simulated_caps();
	const char *env;
	struct rlimit rl;
	unsigned saved;

	if (page == 4096 || page == 16384 || page == 65536)
		cfg.page_size = (uint32_t)page;
	env = getenv("IOMMUFD_SIM_MEM_MB");
	if (env && *env)
		cfg.mem_size = strtoull(env, NULL, 0) << 20;
	/* CAP_IPC_LOCK is 14, CAP_SYS_RESOURCE 24. */
	cfg.cap_ipc_lock = caps & (1ull << 14);
	cfg.no_cap_sys_resource = !(caps & (1ull << 24));
	if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY)
		cfg.memlock_limit = rl.rlim_cur;
	cfg.no_thp = real_access()(
		"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", R_OK) != 0;

	/* Making the machine is not part of anyone's fail-nth sweep. */
	pl_enter();
	saved = isim_fail_nth_get();
	isim_fail_nth_set(0);
	machine_err = isim_machine_new(&cfg, &m);
	isim_fail_nth_set(saved);
	pl_leave();
	if (machine_err)
		return;
	isim_vm_set_folio_fn(m->vm, pl_huge_folio, NULL);
	atomic_store_explicit(&machine, m, memory_order_release);
}

struct isim_machine *pl_machine(void)
{
	struct isim_machine *m;

	pthread_once(&machine_once, machine_create);
	m = atomic_load_explicit(&machine, memory_order_acquire);
	if (!m)
		errno = machine_err ? -machine_err : ENODEV;
	return m;
}

struct isim_machine *pl_machine_peek(void)
{
	return atomic_load_explicit(&machine, memory_order_acquire);
}

/* ------------------------------------------------------------ contexts */

void pl_ctx_get(struct pl_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void pl_ctx_put(struct pl_ctx *ctx)
{
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	pl_fwd_unlink(ctx);
	/* The file's release: everything the context still holds goes. */
	pl_enter();
	isim_close(ctx->ifd);
	pl_leave();
	free(ctx);
}

/* ------------------------------------------------------------ fd table */

/*
 * Two levels of 1024 slots cover fds below 2^20.  Lookups of fds that are
 * not ours (nearly all of them) are two atomic loads and no lock; taking a
 * reference on one of ours happens under the table lock, which every
 * change of a slot holds too.
 */
#define PL_CHUNK_SHIFT 10
#define PL_CHUNK_SLOTS (1 << PL_CHUNK_SHIFT)
#define PL_NR_CHUNKS 1024
#define PL_MAX_FD (PL_NR_CHUNKS * PL_CHUNK_SLOTS)

typedef struct pl_file *_Atomic pl_slot;
static pl_slot *_Atomic pl_chunks[PL_NR_CHUNKS];
static pthread_mutex_t pl_table_lock = PTHREAD_MUTEX_INITIALIZER;

static pl_slot *slot_of(int fd, bool create)
{
	pl_slot *chunk;

	if (fd < 0 || fd >= PL_MAX_FD)
		return NULL;
	chunk = atomic_load_explicit(&pl_chunks[fd >> PL_CHUNK_SHIFT],
				     memory_order_acquire);
	if (!chunk && create) {
		/* Under the table lock: nobody else creates it meanwhile. */
		chunk = calloc(PL_CHUNK_SLOTS, sizeof(*chunk));
		if (!chunk)
			return NULL;
		atomic_store_explicit(&pl_chunks[fd >> PL_CHUNK_SHIFT], chunk,
				      memory_order_release);
	}
	return chunk ? &chunk[fd & (PL_CHUNK_SLOTS - 1)] : NULL;
}

struct pl_file *pl_file_get(int fd)
{
	struct pl_file *f;
	pl_slot *slot = slot_of(fd, false);

	if (!slot || !atomic_load_explicit(slot, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&pl_table_lock);
	f = atomic_load_explicit(slot, memory_order_relaxed);
	if (f)
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pl_table_lock);
	return f;
}

bool pl_file_peek(int fd)
{
	pl_slot *slot = slot_of(fd, false);

	return slot && atomic_load_explicit(slot, memory_order_acquire);
}

void pl_file_put(struct pl_file *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (f->ctx)
		pl_ctx_put(f->ctx);
	free(f);
}

/* Make @fd name @f; takes a reference for the slot.  -1 if out of room. */
static int file_install(int fd, struct pl_file *f)
{
	pl_slot *slot;

	pthread_mutex_lock(&pl_table_lock);
	slot = slot_of(fd, true);
	if (slot) {
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
		f->nfds++;
		atomic_store_explicit(slot, f, memory_order_release);
	}
	pthread_mutex_unlock(&pl_table_lock);
	return slot ? 0 : -1;
}

/*
 * Take @fd out of the table; the slot's reference passes to the caller.
 * *@last tells whether it was the file's last fd number.
 */
static struct pl_file *file_remove(int fd, bool *last)
{
	pl_slot *slot = slot_of(fd, false);
	struct pl_file *f = NULL;

	if (!slot || !atomic_load_explicit(slot, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&pl_table_lock);
	f = atomic_load_explicit(slot, memory_order_relaxed);
	if (f) {
		atomic_store_explicit(slot, NULL, memory_order_release);
		*last = !--f->nfds;
	}
	pthread_mutex_unlock(&pl_table_lock);
	return f;
}

static struct pl_file *file_new(enum pl_kind kind, int fd, struct pl_ctx *ctx)
{
	struct pl_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	atomic_init(&f->refs, 1);	/* the caller's */
	f->kind = kind;
	f->fd = fd;
	f->ctx = ctx;
	if (ctx)
		pl_ctx_get(ctx);
	return f;
}

/*
 * The rest of a close once @fd left the table.  @replaced: the number was
 * already taken over by dup2(), so there is no real close to do.
 */
static void file_release_number(struct pl_file *f, int fd, bool last,
				bool replaced)
{
	if (!replaced && (f->kind != PL_ANON || fd != f->fd))
		real_close()(fd);
	/* The simulator's eventfd goes with its last fd number. */
	if (last && f->kind == PL_ANON) {
		pl_enter();
		isim_fd_close(f->ctx->ifd, f->fd);
		pl_leave();
	}
	pl_file_put(f);
}

/* ------------------------------------------------------------ opens */

int pl_open_iommufd(int flags)
{
	struct isim_machine *m = pl_machine();
	struct pl_ctx *ctx;
	struct pl_file *f;
	int fd, rc;

	if (!m)
		return -1;
	fd = real_open()("/dev/null", O_RDWR | (flags & O_CLOEXEC));
	if (fd < 0)
		return -1;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		rc = -ENOMEM;
		goto err_close;
	}
	pl_enter();
	rc = isim_open(m, &ctx->ifd);
	pl_leave();
	if (rc) {
		free(ctx);
		goto err_close;
	}
	atomic_init(&ctx->refs, 1);
	pl_fwd_register(ctx);
	f = file_new(PL_IOMMUFD, fd, ctx);
	pl_ctx_put(ctx);	/* the file holds it now (or it is gone) */
	if (!f || file_install(fd, f)) {
		if (f)
			pl_file_put(f);
		rc = -ENOMEM;
		goto err_close;
	}
	pl_file_put(f);		/* the slot holds it now */
	return fd;

err_close:
	real_close()(fd);
	errno = -rc;
	return -1;
}

int pl_open_failnth(pid_t tid, int flags)
{
	struct pl_file *f;
	int fd;

	fd = memfd_create("fail-nth", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return -1;
	f = file_new(PL_FAILNTH, fd, NULL);
	if (f)
		f->tid = tid;
	if (!f || file_install(fd, f)) {
		if (f)
			pl_file_put(f);
		real_close()(fd);
		errno = ENOMEM;
		return -1;
	}
	pl_file_put(f);
	return fd;
}

enum pl_open_fn {
	OPEN, OPEN64, OPENAT, OPENAT64, OPEN_2, OPEN64_2, OPENAT_2, OPENAT64_2
};

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* A NULL @path goes to libc (EFAULT); read it through a volatile so the
 * nonnull attribute on open's prototype cannot fold the check away. */
static bool path_is_null(const char *path)
{
	const char *volatile p = path;

	return !p;
}

static int open_common(enum pl_open_fn fn, int dirfd, const char *path,
		       int flags, mode_t mode)
{
	char buf[PATH_MAX];
	pid_t tid = 0;

	if (!pl_in_sim && !path_is_null(path) && path[0] == '/') {
		switch (pl_classify(path, buf, &tid)) {
		case PL_PATH_IOMMU:
			return pl_open_iommufd(flags);
		case PL_PATH_FAILNTH:
			return pl_open_failnth(tid, flags);
		case PL_PATH_REDIRECT:
			path = buf;
			break;
		case PL_PATH_OTHER:
			break;
		}
	}
	switch (fn) {
	case OPEN:
		return real_open()(path, flags, mode);
	case OPEN64:
		return real_open64()(path, flags, mode);
	case OPENAT:
		return real_openat()(dirfd, path, flags, mode);
	case OPENAT64:
		return real_openat64()(dirfd, path, flags, mode);
	case OPEN_2:
		return real___open_2()(path, flags);
	case OPEN64_2:
		return real___open64_2()(path, flags);
	case OPENAT_2:
		return real___openat_2()(dirfd, path, flags);
	case OPENAT64_2:
		return real___openat64_2()(dirfd, path, flags);
	}
	errno = EINVAL;
	return -1;
}

#define OPEN_MODE(flags, mode)                                             \
	do {                                                               \
		if (needs_mode(flags)) {                                   \
			va_list ap;                                        \
			va_start(ap, flags);                               \
			mode = (mode_t)va_arg(ap, int);                    \
			va_end(ap);                                        \
		}                                                          \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_common(OPEN, AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_common(OPEN64, AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_common(OPENAT, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_common(OPENAT64, dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return open_common(OPEN_2, AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common(OPEN64_2, AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(OPENAT_2, dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(OPENAT64_2, dirfd, path, flags, 0);
}

/* ------------------------------------------------------- close and dup */

int close(int fd)
{
	struct pl_file *f;
	bool last;

	if (pl_in_sim || !(f = file_remove(fd, &last)))
		return real_close()(fd);
	file_release_number(f, fd, last, false);
	return 0;
}

/* @newfd, just made by a dup of one of ours (@f), names @f too. */
static int dup_done(struct pl_file *f, int newfd)
{
	if (newfd >= 0 && file_install(newfd, f)) {
		real_close()(newfd);
		errno = EMFILE;
		newfd = -1;
	}
	pl_file_put(f);
	return newfd;
}

int dup(int oldfd)
{
	struct pl_file *f;

	if (pl_in_sim || !(f = pl_file_get(oldfd)))
		return real_dup()(oldfd);
	return dup_done(f, real_dup()(oldfd));
}

/*
 * dup2/dup3 onto one of our numbers closes it first.  The simulator's own
 * eventfd cannot be replaced in place while other numbers still name its
 * file, so that one case is EBUSY (which dup2 may return on Linux too).
 */
static int dup_onto(int oldfd, int newfd, int flags, bool is_dup3)
{
	struct pl_file *f, *g;
	bool last = false;
	int rc;

	if (pl_in_sim || oldfd == newfd ||
	    (!pl_file_peek(oldfd) && !pl_file_peek(newfd)))
		return is_dup3 ? real_dup3()(oldfd, newfd, flags) :
				 real_dup2()(oldfd, newfd);
	if (real_fcntl()(oldfd, F_GETFD) < 0)
		return -1;	/* EBADF, and @newfd stays open */
	g = pl_file_get(newfd);
	if (g) {
		bool busy = g->kind == PL_ANON && g->fd == newfd;

		pl_file_put(g);
		if (busy) {
			g = file_remove(newfd, &last);
			if (g && !last) {
				/* Put it back: other numbers need it. */
				pthread_mutex_lock(&pl_table_lock);
				g->nfds++;
				atomic_store(slot_of(newfd, false), g);
				pthread_mutex_unlock(&pl_table_lock);
				errno = EBUSY;
				return -1;
			}
			if (g)
				file_release_number(g, newfd, true, false);
			g = NULL;
		} else {
			g = file_remove(newfd, &last);
		}
	}
	f = pl_file_get(oldfd);
	rc = is_dup3 ? real_dup3()(oldfd, newfd, flags) :
		       real_dup2()(oldfd, newfd);
	if (g)
		file_release_number(g, newfd, last, rc >= 0);
	if (!f)
		return rc;
	return dup_done(f, rc);
}

int dup2(int oldfd, int newfd)
{
	return dup_onto(oldfd, newfd, 0, false);
}

int dup3(int oldfd, int newfd, int flags)
{
	return dup_onto(oldfd, newfd, flags, true);
}

static int fcntl_common(bool is64, int fd, int cmd, void *arg)
{
	struct pl_file *f;

	if (!pl_in_sim && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) &&
	    (f = pl_file_get(fd)))
		return dup_done(f, is64 ? real_fcntl64()(fd, cmd, arg) :
					  real_fcntl()(fd, cmd, arg));
	return is64 ? real_fcntl64()(fd, cmd, arg) : real_fcntl()(fd, cmd, arg);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(false, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(true, fd, cmd, arg);
}

/* ------------------------------------------------------------ ioctl */

/* A new fd of the simulator's, reported in @efd, becomes ours. */
static void adopt_anon_fd(struct pl_ctx *ctx, long efd)
{
	struct pl_file *f;
	unsigned saved;
	ssize_t probe;

	if (efd < 0 || efd >= PL_MAX_FD || pl_file_peek((int)efd))
		return;
	/*
	 * A zero-byte write is how we ask whether the context owns the fd
	 * (-EBADF: not one of its files); it must not count as a fault
	 * injection point of the program's sweep.
	 */
	pl_enter();
	saved = isim_fail_nth_get();
	isim_fail_nth_set(0);
	probe = isim_write(ctx->ifd, (int)efd, NULL, 0);
	isim_fail_nth_set(saved);
	pl_leave();
	if (probe == -EBADF)
		return;
	f = file_new(PL_ANON, (int)efd, ctx);
	if (!f)
		return;
	file_install((int)efd, f);
	pl_file_put(f);
}

static void adopt_new_fds(struct pl_ctx *ctx, unsigned long request,
			  void *arg, int rc)
{
	switch (request) {
	case IOMMU_FAULT_QUEUE_ALLOC:
		adopt_anon_fd(ctx, ((struct iommu_fault_alloc *)arg)->out_fault_fd);
		break;
	case IOMMU_VEVENTQ_ALLOC:
		adopt_anon_fd(ctx,
			      ((struct iommu_veventq_alloc *)arg)->out_veventq_fd);
		break;
	case IOMMU_TEST_CMD: {
		struct iommu_test_cmd *cmd = arg;

		if (cmd->op == IOMMU_TEST_OP_CREATE_ACCESS)
			adopt_anon_fd(ctx, cmd->create_access.out_access_fd);
		else if (rc > 0)	/* dma-buf: the fd is the result */
			adopt_anon_fd(ctx, rc);
		break;
	}
	default:
		break;
	}
}

/* ioctls the VFS answers for any file before the driver sees them. */
static bool vfs_generic_ioctl(unsigned long request)
{
	return request == FIOCLEX || request == FIONCLEX ||
	       request == FIONBIO || request == FIOASYNC;
}

int ioctl(int fd, unsigned long request, ...)
{
	struct pl_file *f;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (pl_in_sim || !(f = pl_file_get(fd)))
		return real_ioctl()(fd, request, arg);
	if (vfs_generic_ioctl(request)) {
		rc = real_ioctl()(fd, request, arg);
		pl_file_put(f);
		return rc;
	}
	if (f->kind == PL_IOMMUFD && f->ctx->owner != getpid() &&
	    pl_fwd_ioctl(f->ctx, request, arg, &rc)) {
		/* Run by the process that opened it; see forward.c. */
		if (rc < 0)
			pl_log_ioctl(request, arg, rc);
	} else if (f->kind == PL_IOMMUFD) {
		pl_enter();
		rc = isim_ioctl(f->ctx->ifd, request, arg);
		pl_leave();
		if (rc >= 0)
			adopt_new_fds(f->ctx, request, arg, rc);
		else
			pl_log_ioctl(request, arg, rc);
	} else {
		rc = -ENOTTY;	/* these files have no ioctls */
	}
	pl_file_put(f);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

/* ------------------------------------------------------------ fork */

/*
 * fork(): the table and the machine are plain process memory, so the
 * child gets a copy of both; the lock is held across the fork so the copy
 * is consistent.  The child's ioctls on an inherited iommufd go to the
 * fork server of the process that opened it; everything else it does
 * drives its own copy of the simulator.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&pl_table_lock);
	pthread_mutex_lock(&pl_fwd_lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&pl_fwd_lock);
	pthread_mutex_unlock(&pl_table_lock);
}

__attribute__((constructor)) static void pl_init(void)
{
	/*
	 * Resolve what libc has now, while nothing runs inside a wrapper;
	 * a missing one is only fatal when a call needs it.
	 */
	for (int i = 0; i < PL_NR_SYMS; i++)
		atomic_store(&pl_syms[i], dlsym(RTLD_NEXT, pl_sym_names[i]));
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}
