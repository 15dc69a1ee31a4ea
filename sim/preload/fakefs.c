/*
 * The paths libiommufd-sim-preload answers for: /dev/iommu, the per-task
 * /proc/.../fail-nth files (mapped onto the simulator's per-thread fault
 * injection, isim_fail_nth_set/get), and a small fake tree that stands in
 * for the debugfs fault-injection knobs (/sys/kernel/debug/fail*) and for
 * the selftest mock bus (/sys/bus/iommufd_mock) that newer selftests probe
 * for.  The fake tree is ordinary files in a directory of ours
 * ($IOMMUFD_SIM_FAKEFS, else a temporary one removed at exit), so
 * opendir/readdir/openat/write on it need no help: only the path-taking
 * calls (open family in preload.c; opendir, fopen, access, stat here) have
 * the path rewritten.  Writes to the fake knobs are accepted and ignored;
 * the host's real debugfs is never touched.
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/preload/preload.h"

/* ------------------------------------------------------------ fake tree */

struct fake_entry {
	const char *path;	/* relative to the root */
	const char *content;	/* NULL: a directory */
};

#define FAULT_ATTRS(dir)                                                   \
	{ dir "/probability", "0\n" }, { dir "/interval", "1\n" },         \
	{ dir "/times", "1\n" }, { dir "/space", "0\n" },                  \
	{ dir "/verbose", "2\n" }, { dir "/task-filter", "N\n" },          \
	{ dir "/verbose_ratelimit_interval_ms", "0\n" },                   \
	{ dir "/verbose_ratelimit_burst", "0\n" }

/* In creation order; removal runs it backwards. */
static const struct fake_entry fake_tree[] = {
	{ "debug", NULL },
	{ "debug/failslab", NULL },
	FAULT_ATTRS("debug/failslab"),
	{ "debug/failslab/ignore-gfp-wait", "Y\n" },
	{ "debug/failslab/cache-filter", "N\n" },
	{ "debug/fail_page_alloc", NULL },
	FAULT_ATTRS("debug/fail_page_alloc"),
	{ "debug/fail_page_alloc/ignore-gfp-wait", "Y\n" },
	{ "debug/fail_page_alloc/ignore-gfp-highmem", "Y\n" },
	{ "debug/fail_page_alloc/min-order", "1\n" },
	{ "debug/fail_iommufd", NULL },
	FAULT_ATTRS("debug/fail_iommufd"),
	{ "bus", NULL },
	{ "bus/iommufd_mock", NULL },
	{ "bus/iommufd_mock/devices", NULL },
	{ "bus/iommufd_mock/drivers", NULL },
	/* What access() and stat() of a fail-nth path look at. */
	{ "fail-nth", "0\n" },
};

#define NR_FAKE (sizeof(fake_tree) / sizeof(fake_tree[0]))

static pthread_once_t fake_once = PTHREAD_ONCE_INIT;
static char fake_root[PATH_MAX - 64];
static bool fake_ok;
static bool fake_owned;		/* a temporary root: ours to remove */
static pid_t fake_owner;

static int fake_path(char *buf, size_t size, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", fake_root, rel);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

static void fake_populate(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < NR_FAKE; i++) {
		const struct fake_entry *e = &fake_tree[i];
		int fd;

		if (fake_path(path, sizeof(path), e->path))
			return;
		if (!e->content) {
			if (mkdir(path, 0755) && errno != EEXIST)
				return;
			continue;
		}
		fd = real_open()(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				 0644);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return;
		}
		(void)!real_write()(fd, e->content, strlen(e->content));
		real_close()(fd);
	}
	fake_ok = true;
}

static void fake_create(void)
{
	const char *dir = getenv("IOMMUFD_SIM_FAKEFS");
	const char *tmp = getenv("TMPDIR");
	int n;

	if (dir && *dir) {
		n = snprintf(fake_root, sizeof(fake_root), "%s", dir);
		if (n <= 0 || (size_t)n >= sizeof(fake_root))
			return;
		if (mkdir(fake_root, 0755) && errno != EEXIST)
			return;
	} else {
		n = snprintf(fake_root, sizeof(fake_root),
			     "%s/iommufd-sim-fakefs.XXXXXX",
			     tmp && *tmp ? tmp : "/tmp");
		if (n <= 0 || (size_t)n >= sizeof(fake_root) ||
		    !mkdtemp(fake_root))
			return;
		fake_owned = true;
		fake_owner = getpid();
	}
	fake_populate();
}

/* Only the process that made a temporary root removes it. */
__attribute__((destructor)) static void fake_remove(void)
{
	char path[PATH_MAX];

	if (!fake_owned || fake_owner != getpid())
		return;
	for (size_t i = NR_FAKE; i-- > 0;) {
		if (fake_path(path, sizeof(path), fake_tree[i].path))
			return;
		if (fake_tree[i].content)
			unlink(path);
		else
			rmdir(path);
	}
	rmdir(fake_root);
}

static bool fake_ready(void)
{
	pthread_once(&fake_once, fake_create);
	return fake_ok;
}

/* ------------------------------------------------------------ paths */

/*
 * Copy absolute @path to @out with "//" and "/./" collapsed and no
 * trailing "/".  False when it does not fit or has a ".." (those are left
 * to the kernel, unredirected).
 */
static bool normalize(const char *path, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = path; *p;) {
		const char *q;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		for (q = p; *q && *q != '/'; q++)
			;
		len = (size_t)(q - p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (!(len == 1 && p[0] == '.')) {
			if (o + 1 + len + 1 > size)
				return false;
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = q;
	}
	if (!o)
		out[o++] = '/';
	out[o] = 0;
	return true;
}

/* @s starts with directory @dir: equal, or followed by '/'.  The rest. */
static const char *under(const char *s, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(s, dir, n) || (s[n] && s[n] != '/'))
		return NULL;
	return s + n;
}

/* A decimal number ending at '/' or the end; -1 if not one. */
static long parse_id(const char **s)
{
	char *end;
	long v;

	if (**s < '0' || **s > '9')
		return -1;
	errno = 0;
	v = strtol(*s, &end, 10);
	if (errno || v <= 0 || v > INT_MAX || (*end && *end != '/'))
		return -1;
	*s = end;
	return v;
}

/* /proc/{self,thread-self,<pid>}/.../fail-nth of a thread of ours. */
static bool failnth_path(const char *p, pid_t *tid)
{
	const char *rest;
	char probe[64];
	long id;

	if ((rest = under(p, "/proc/thread-self"))) {
		if (strcmp(rest, "/fail-nth"))
			return false;
		*tid = gettid();
		return true;
	}
	if (!(rest = under(p, "/proc/self"))) {
		if (strncmp(p, "/proc/", 6))
			return false;
		rest = p + 6;
		if (parse_id(&rest) != getpid())
			return false;
	}
	if (strncmp(rest, "/task/", 6))
		return false;
	rest += 6;
	id = parse_id(&rest);
	if (id < 0 || strcmp(rest, "/fail-nth"))
		return false;
	/* One of our own threads, or the real file would not exist either. */
	snprintf(probe, sizeof(probe), "/proc/self/task/%ld", id);
	if (real_access()(probe, F_OK))
		return false;
	*tid = (pid_t)id;
	return true;
}

enum pl_path_class pl_classify(const char *path, char *buf, pid_t *tid)
{
	char norm[PATH_MAX];
	const char *rest, *sub;

	/* Most paths are not ours: leave without copying them. */
	if (path[0] != '/' || !path[1] || !strchr("dps/.", path[1]))
		return PL_PATH_OTHER;
	if (!normalize(path, norm, sizeof(norm)))
		return PL_PATH_OTHER;
	if (!strcmp(norm, "/dev/iommu"))
		return PL_PATH_IOMMU;
	if (failnth_path(norm, tid))
		return PL_PATH_FAILNTH;
	if ((rest = under(norm, "/sys/kernel/debug")))
		sub = "debug";
	else if ((rest = under(norm, "/sys/bus/iommufd_mock")))
		sub = "bus/iommufd_mock";
	else
		return PL_PATH_OTHER;
	if (!fake_ready())
		return PL_PATH_OTHER;
	if (snprintf(buf, PATH_MAX, "%s/%s%s", fake_root, sub, rest) >=
	    PATH_MAX)
		return PL_PATH_OTHER;
	return PL_PATH_REDIRECT;
}

const char *pl_redirect(const char *path, char *buf, bool *iommu)
{
	const char *volatile nonnull_proof = path;
	pid_t tid;

	/* NULL goes to libc for its EFAULT; the volatile read keeps the
	 * check that the callers' nonnull prototypes would fold away. */
	*iommu = false;
	if (pl_in_sim || !nonnull_proof || path[0] != '/')
		return path;
	switch (pl_classify(path, buf, &tid)) {
	case PL_PATH_REDIRECT:
		return buf;
	case PL_PATH_IOMMU:
		/* A character device that anyone may open, like ours. */
		*iommu = true;
		return "/dev/null";
	case PL_PATH_FAILNTH:
		if (fake_ready() &&
		    snprintf(buf, PATH_MAX, "%s/fail-nth", fake_root) < PATH_MAX)
			return buf;
		return path;
	case PL_PATH_OTHER:
		break;
	}
	return path;
}

/* ------------------------------------------------------------ fail-nth */

/* copy_to_user/copy_from_user: EFAULT for a bad buffer, never a signal. */
static int user_copy(void *local, void *user, size_t len, bool to_user)
{
	struct iovec l = { local, len }, r = { user, len };
	ssize_t n;

	if (!len)
		return 0;
	n = to_user ? process_vm_writev(getpid(), &l, 1, &r, 1, 0) :
		      process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

/*
 * The counter is the calling thread's (isim_fail_nth_* are per thread);
 * the file of another thread cannot reach that thread's counter.
 */
static bool failnth_mine(struct pl_file *f)
{
	if (f->tid == gettid())
		return true;
	errno = EPERM;
	return false;
}

ssize_t pl_failnth_read(struct pl_file *f, void *buf, size_t count,
			off_t pos, bool use_pos)
{
	char num[16];
	size_t len, n;

	if (!failnth_mine(f))
		return -1;
	len = (size_t)snprintf(num, sizeof(num), "%u\n", isim_fail_nth_get());
	if (!use_pos) {
		pos = lseek(f->fd, 0, SEEK_CUR);
		if (pos < 0)
			return -1;
	}
	if (pos < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)pos >= len)
		return 0;
	n = len - (size_t)pos < count ? len - (size_t)pos : count;
	if (user_copy(num + pos, buf, n, true)) {
		errno = EFAULT;
		return -1;
	}
	if (!use_pos)
		lseek(f->fd, pos + (off_t)n, SEEK_SET);
	return (ssize_t)n;
}

/* kstrtouint(): base 0, an optional '+' and one trailing newline. */
static int parse_uint(const char *s, unsigned *out)
{
	unsigned long long v = 0;
	unsigned base = 10;
	bool digits = false;

	if (*s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
	    isxdigit((unsigned char)s[2])) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	for (;; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (d >= base)
			return -EINVAL;
		v = v * base + d;
		if (v > UINT_MAX)
			return -ERANGE;
		digits = true;
	}
	if (*s == '\n')
		s++;
	if (!digits || *s)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

ssize_t pl_failnth_write(struct pl_file *f, const void *buf, size_t count)
{
	char num[32];
	size_t n = count < sizeof(num) - 1 ? count : sizeof(num) - 1;
	unsigned nth;
	int rc;

	if (!failnth_mine(f))
		return -1;
	if (user_copy(num, (void *)buf, n, false)) {
		errno = EFAULT;
		return -1;
	}
	num[n] = 0;
	rc = parse_uint(num, &nth);
	if (rc) {
		errno = -rc;
		return -1;
	}
	isim_fail_nth_set(nth);
	return (ssize_t)count;
}

/* ------------------------------------------------------ path-only calls */

DIR *opendir(const char *name)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_opendir()(pl_redirect(name, buf, &iommu));
}

FILE *fopen(const char *path, const char *mode)
{
	char buf[PATH_MAX];
	bool iommu;
	const char *p = pl_redirect(path, buf, &iommu);

	/* A FILE cannot carry an iommufd: stdio reads behind our back. */
	return real_fopen()(iommu ? path : p, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	char buf[PATH_MAX];
	bool iommu;
	const char *p = pl_redirect(path, buf, &iommu);

	return real_fopen64()(iommu ? path : p, mode);
}

int access(const char *path, int mode)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_access()(pl_redirect(path, buf, &iommu), mode);
}

int euidaccess(const char *path, int mode)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_euidaccess()(pl_redirect(path, buf, &iommu), mode);
}

int eaccess(const char *path, int mode)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_eaccess()(pl_redirect(path, buf, &iommu), mode);
}

int faccessat(int dirfd, const char *path, int mode, int flags)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_faccessat()(dirfd, pl_redirect(path, buf, &iommu), mode,
				flags);
}

int stat(const char *path, struct stat *st)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_stat()(pl_redirect(path, buf, &iommu), st);
}

int lstat(const char *path, struct stat *st)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_lstat()(pl_redirect(path, buf, &iommu), st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_fstatat()(dirfd, pl_redirect(path, buf, &iommu), st,
			      flags);
}

int stat64(const char *path, struct stat64 *st)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_stat64()(pl_redirect(path, buf, &iommu), st);
}

int lstat64(const char *path, struct stat64 *st)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_lstat64()(pl_redirect(path, buf, &iommu), st);
}

int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	char buf[PATH_MAX];
	bool iommu;

	return real_fstatat64()(dirfd, pl_redirect(path, buf, &iommu), st,
				flags);
}
