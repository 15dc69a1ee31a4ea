/*
 * Smoke test of libiommufd-sim-preload, run by `make check`: it re-executes
 * itself with the library in LD_PRELOAD (behind the sanitizer runtime it
 * was linked with, if any, which must come first), and from then on
 * everything is plain system calls, as an unmodified program makes them.  It covers
 * what the kernel selftest of Debian's 6.12 does not reach or reaches only
 * by luck: -1/errno conversion, dup and close of our fds, the iommufd kept
 * alive by an access fd, fail-nth files, the fake debugfs and mock bus,
 * MAP_HUGETLB emulation, vEVENTQ fds (read and poll) and mmap of the
 * iommufd, fork (the child's ioctls on an inherited iommufd act on the
 * parent's context, as in the kernel), and many threads
 * opening, mapping and closing at once beside ordinary file I/O.
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <dirent.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: %s failed (errno %d: %s)\n",  \
				__FILE__, __LINE__, #cond, errno,          \
				strerror(errno));                          \
			exit(1);                                           \
		}                                                          \
	} while (0)

#define CHECK_ERR(err, call)                                               \
	do {                                                               \
		errno = 0;                                                 \
		CHECK((call) == -1);                                       \
		CHECK(errno == (err));                                     \
	} while (0)

static size_t page;

static int iommu_open(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0);
	return fd;
}

static uint32_t ioas_alloc(int fd)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd) == 0);
	return cmd.out_ioas_id;
}

static int test_cmd(int fd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, IOMMU_TEST_CMD, cmd);
}

static void mock_domain(int fd, uint32_t ioas, uint32_t *stdev,
			uint32_t *hwpt, uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas,
	};

	CHECK(test_cmd(fd, &cmd) == 0);
	*stdev = cmd.mock_domain.out_stdev_id;
	*hwpt = cmd.mock_domain.out_hwpt_id;
	*idev = cmd.mock_domain.out_idev_id;
}

static int check_refs(int fd, void *buf, size_t len, unsigned refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len, .uptr = (uintptr_t)buf,
				.refs = refs },
	};

	return test_cmd(fd, &cmd);
}

static uint64_t ioas_map(int fd, uint32_t ioas, void *buf, size_t len)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)buf,
		.length = len,
	};

	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &cmd) == 0);
	return cmd.iova;
}

/* ioctl results, errno, and the fd rules of an iommufd. */
static void test_basic(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd = iommu_open(), fd2;
	char c;

	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK(ioas_alloc(fd) == 1);
	CHECK_ERR(EFAULT, ioctl(fd, IOMMU_IOAS_ALLOC, NULL));
	cmd.size = 4;
	CHECK_ERR(EINVAL, ioctl(fd, IOMMU_IOAS_ALLOC, &cmd));
	CHECK_ERR(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), &cmd));
	CHECK_ERR(EINVAL, read(fd, &c, 1));
	CHECK(ioctl(fd, FIONCLEX) == 0);
	CHECK(fcntl(fd, F_GETFD) == 0);

	/* A dup names the same context, and outlives the original. */
	fd2 = dup(fd);
	CHECK(fd2 >= 0);
	CHECK(close(fd) == 0);
	CHECK(ioas_alloc(fd2) == 2);
	fd = fcntl(fd2, F_DUPFD_CLOEXEC, 100);
	CHECK(fd >= 100);
	CHECK(dup2(fd, fd2) == fd2);
	CHECK(ioas_alloc(fd2) == 3);
	CHECK(close(fd) == 0);
	CHECK(close(fd2) == 0);
	/* Closed is closed: the number is an ordinary bad fd again. */
	CHECK_ERR(EBADF, ioctl(fd2, IOMMU_IOAS_ALLOC, &cmd));

	/* Every open is a new context. */
	fd = iommu_open();
	CHECK(ioas_alloc(fd) == 1);
	CHECK(close(fd) == 0);
}

/* An access fd holds the context (and its pins) after the iommufd closes. */
static void test_access_holds_ctx(void)
{
	size_t len = 4 * page;
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_CREATE_ACCESS };
	uint32_t ioas, stdev, hwpt, idev;
	int fd = iommu_open(), fd2, afd;
	char c;

	CHECK(buf != MAP_FAILED);
	memset(buf, 0x5a, len);
	ioas = ioas_alloc(fd);
	mock_domain(fd, ioas, &stdev, &hwpt, &idev);
	ioas_map(fd, ioas, buf, len);
	CHECK(check_refs(fd, buf, len, 1) == 0);
	cmd.id = ioas;
	CHECK(test_cmd(fd, &cmd) == 0);
	afd = (int)cmd.create_access.out_access_fd;
	CHECK(afd > 2);
	CHECK_ERR(ENOTTY, ioctl(afd, IOMMU_IOAS_ALLOC, &cmd));
	CHECK_ERR(EINVAL, read(afd, &c, 1));

	CHECK(close(fd) == 0);
	fd2 = iommu_open();
	CHECK(check_refs(fd2, buf, len, 1) == 0);
	CHECK(close(afd) == 0);
	CHECK(check_refs(fd2, buf, len, 0) == 0);
	CHECK(close(fd2) == 0);
	CHECK(munmap(buf, len) == 0);
}

/* /proc/.../fail-nth drives the simulator's fault injection. */
static void test_fail_nth(void)
{
	char path[64], buf[16];
	unsigned failed = 0;
	int fd, nfd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", gettid());
	nfd = open(path, O_RDWR);
	CHECK(nfd >= 0);
	CHECK(pread(nfd, buf, sizeof(buf), 0) == 2 && !memcmp(buf, "0\n", 2));
	CHECK_ERR(EINVAL, pwrite(nfd, "x", 1, 0));

	fd = iommu_open();
	/* Arm: some of the next ioctls fail, the rest succeed. */
	CHECK(pwrite(nfd, "2", 1, 0) == 1);
	for (int i = 0; i < 8; i++) {
		struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

		if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd)) {
			CHECK(errno == ENOMEM);
			failed++;
		}
	}
	CHECK(failed == 1);
	CHECK(pread(nfd, buf, sizeof(buf), 0) == 2 && !memcmp(buf, "0\n", 2));
	/* Armed far out, it stays armed and counts down. */
	CHECK(pwrite(nfd, "1000\n", 5, 0) == 5);
	ioas_alloc(fd);
	CHECK(pread(nfd, buf, sizeof(buf) - 1, 0) > 0);
	buf[sizeof(buf) - 1] = 0;
	CHECK(strtoul(buf, NULL, 10) > 0 && strtoul(buf, NULL, 10) < 1000);
	CHECK(write(nfd, "0", 1) == 1);
	CHECK(close(fd) == 0);
	CHECK(close(nfd) == 0);
}

/* The debugfs knobs and the mock bus exist, and take writes. */
static void test_fakefs(void)
{
	DIR *dir = opendir("/sys/kernel/debug/");
	struct dirent *d;
	unsigned fail_dirs = 0;
	int fd;

	CHECK(dir);
	while ((d = readdir(dir)))
		fail_dirs += !strncmp(d->d_name, "fail", 4);
	CHECK(fail_dirs >= 3);
	fd = openat(dirfd(dir), "failslab/ignore-gfp-wait", O_WRONLY);
	CHECK(fd >= 0);
	CHECK(write(fd, "N", 1) == 1);
	CHECK(close(fd) == 0);
	closedir(dir);
	CHECK(access("/sys/bus/iommufd_mock", F_OK) == 0);
	CHECK(access("/dev/iommu", R_OK | W_OK) == 0);
}

/* MAP_HUGETLB works with or without huge pages on the host. */
static void test_hugetlb(void)
{
	size_t len = 4u << 20;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK((uintptr_t)p % (2u << 20) == 0);
	p[0] = 1;
	p[len - 1] = 2;
	CHECK(munmap(p + (2u << 20), 2u << 20) == 0);
	CHECK(munmap(p, 2u << 20) == 0);
}

static uint32_t hwpt_alloc(int fd, uint32_t dev, uint32_t pt, uint32_t flags,
			   uint32_t type, void *data, uint32_t len)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev,
		.pt_id = pt,
		.data_type = type,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
	};

	CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &cmd) == 0);
	return cmd.out_hwpt_id;
}

/* A vIOMMU's mmap region and a vEVENTQ fd, read and polled. */
static void test_viommu_fds(void)
{
	struct iommu_hwpt_selftest nested = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_viommu_selftest data = { .in_data = 0xbeef };
	struct iommu_viommu_alloc va = {
		.size = sizeof(va),
		.type = IOMMU_VIOMMU_TYPE_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct iommu_vdevice_alloc vd = { .size = sizeof(vd), .virt_id = 0x99 };
	struct iommu_veventq_alloc vq = {
		.size = sizeof(vq),
		.type = IOMMU_VEVENTQ_TYPE_SELFTEST,
		.veventq_depth = 2,
	};
	struct iommu_test_cmd cmd = { 0 };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct {
		struct iommufd_vevent_header hdr;
		struct iommu_viommu_event_selftest ev;
	} rec;
	uint32_t ioas, stdev, hwpt, idev, parent, nest;
	int fd = iommu_open(), efd;
	struct pollfd pfd;
	uint32_t *region;

	ioas = ioas_alloc(fd);
	mock_domain(fd, ioas, &stdev, &hwpt, &idev);
	parent = hwpt_alloc(fd, idev, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT,
			    IOMMU_HWPT_DATA_NONE, NULL, 0);
	va.dev_id = idev;
	va.hwpt_id = parent;
	CHECK(ioctl(fd, IOMMU_VIOMMU_ALLOC, &va) == 0);
	CHECK(data.out_data == 0xbeef && data.out_mmap_length >= page);

	region = mmap(NULL, data.out_mmap_length, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, (off_t)data.out_mmap_offset);
	CHECK(region != MAP_FAILED);
	CHECK(*region == 0xbeef);
	CHECK(mmap(NULL, data.out_mmap_length, PROT_READ, MAP_SHARED, fd,
		   (off_t)(data.out_mmap_offset + page)) == MAP_FAILED);
	destroy.id = va.out_viommu_id;
	CHECK_ERR(EBUSY, ioctl(fd, IOMMU_DESTROY, &destroy));
	CHECK(munmap(region, data.out_mmap_length) == 0);

	nest = hwpt_alloc(fd, idev, va.out_viommu_id, 0,
			  IOMMU_HWPT_DATA_SELFTEST, &nested, sizeof(nested));
	vd.viommu_id = va.out_viommu_id;
	vd.dev_id = idev;
	CHECK(ioctl(fd, IOMMU_VDEVICE_ALLOC, &vd) == 0);
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
	cmd.id = stdev;
	cmd.mock_domain_replace.pt_id = nest;
	CHECK(test_cmd(fd, &cmd) == 0);

	vq.viommu_id = va.out_viommu_id;
	CHECK(ioctl(fd, IOMMU_VEVENTQ_ALLOC, &vq) == 0);
	efd = (int)vq.out_veventq_fd;
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	CHECK(poll(&pfd, 1, 0) == 0);
	CHECK(read(efd, &rec, sizeof(rec)) == 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_TRIGGER_VEVENT;
	cmd.trigger_vevent.dev_id = idev;
	CHECK(test_cmd(fd, &cmd) == 0);
	CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN));
	CHECK(read(efd, &rec, sizeof(rec)) == sizeof(rec));
	CHECK(rec.hdr.flags == 0 && rec.ev.virt_id == 0x99);
	CHECK(poll(&pfd, 1, 0) == 0);
	CHECK_ERR(ESPIPE, pread(efd, &rec, sizeof(rec), 0));
	CHECK(close(efd) == 0);
	CHECK(close(fd) == 0);
}

/*
 * fork(): the child's ioctls on the inherited iommufd act on the parent's
 * context (through the opening process's fork server), and user memory is
 * the child's: its ioctl structs and, for a MAP_SHARED buffer mapped
 * before the fork, the pages it maps.
 */
static void test_fork(void)
{
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = 1 };
	size_t len = 4 * page;
	int fd = iommu_open(), status, pipefd[2];
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child;

	CHECK(buf != MAP_FAILED);
	CHECK(pipe(pipefd) == 0);
	CHECK(ioas_alloc(fd) == 1);
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		uint64_t iova;

		CHECK(ioas_alloc(fd) == 2);
		CHECK(ioas_alloc(fd) == 3);
		iova = ioas_map(fd, 1, buf, len);
		CHECK(write(pipefd[1], &iova, sizeof(iova)) == sizeof(iova));
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(read(pipefd[0], &unmap.iova, sizeof(unmap.iova)) ==
	      sizeof(unmap.iova));
	CHECK(ioas_alloc(fd) == 4);
	unmap.length = len;
	CHECK(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap) == 0);
	CHECK(unmap.length == len);
	CHECK(close(pipefd[0]) == 0 && close(pipefd[1]) == 0);
	CHECK(close(fd) == 0);
	CHECK(munmap(buf, len) == 0);
}

/* Threads: contexts come and go while ordinary fds pass through. */
static void *thread_fn(void *arg)
{
	size_t len = 16 * page;
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CHECK(buf != MAP_FAILED);
	for (int i = 0; i < 50; i++) {
		struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
		int fd = iommu_open(), pipefd[2], dfd;
		char c = 'x';

		unmap.ioas_id = ioas_alloc(fd);
		unmap.iova = ioas_map(fd, unmap.ioas_id, buf, len);
		unmap.length = len;
		dfd = dup(fd);
		CHECK(dfd >= 0);
		CHECK(pipe(pipefd) == 0);
		CHECK(write(pipefd[1], &c, 1) == 1);
		CHECK(read(pipefd[0], &c, 1) == 1 && c == 'x');
		CHECK(close(pipefd[0]) == 0 && close(pipefd[1]) == 0);
		CHECK(close(fd) == 0);
		CHECK(ioctl(dfd, IOMMU_IOAS_UNMAP, &unmap) == 0);
		CHECK(close(dfd) == 0);
	}
	CHECK(munmap(buf, len) == 0);
	return arg;
}

static void test_threads(void)
{
	pthread_t th[8];

	for (unsigned i = 0; i < 8; i++)
		CHECK(pthread_create(&th[i], NULL, thread_fn, NULL) == 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
}

/* Collect the sanitizer runtimes this program has loaded. */
static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
	char *list = arg;
	const char *name = info->dlpi_name;

	if (name && (strstr(name, "/libasan.so") || strstr(name, "/libtsan.so") ||
		     strstr(name, "/libubsan.so"))) {
		strncat(list, name, 4000 - strlen(list));
		strncat(list, ":", 4000 - strlen(list));
	}
	return 0;
}

static void reexec_with_preload(char **argv)
{
	const char *cur = getenv("LD_PRELOAD");
	static char list[4096];

	if (cur && strstr(cur, "libiommufd-sim-preload"))
		return;
	dl_iterate_phdr(find_runtime, list);
	strncat(list, PRELOAD_LIB, sizeof(list) - strlen(list) - 1);
	CHECK(setenv("LD_PRELOAD", list, 1) == 0);
	execv("/proc/self/exe", argv);
	CHECK(!"execv");
}

int main(int argc, char **argv)
{
	int fd;

	(void)argc;
	reexec_with_preload(argv);
	page = (size_t)sysconf(_SC_PAGESIZE);
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0 && errno == ENOENT) {
		fprintf(stderr, "no /dev/iommu: run with the preload library\n");
		return 77;
	}
	CHECK(fd >= 0 && close(fd) == 0);
	test_basic();
	test_access_holds_ctx();
	test_fail_nth();
	test_fakefs();
	test_hugetlb();
	test_viommu_fds();
	test_fork();
	test_threads();
	printf("preload smoke test: all passed\n");
	return 0;
}
