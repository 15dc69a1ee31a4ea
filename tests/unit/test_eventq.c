/*
 * vEVENTQ, its fd and vIOMMU mmap regions (spec/hw_queue.md §3.1, §5.3,
 * §9 rows 39 and 44-53), without the vIOMMU ioctl: each test builds a bare
 * vIOMMU object straight in the table, allocates queues through the real
 * IOMMU_VEVENTQ_ALLOC, reports events as a driver would and reads them
 * back through isim_read(), with poll() on the eventfd it handed out.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"

#define EVT IOMMU_VEVENTQ_TYPE_SELFTEST

/* What the mock driver's TRIGGER_VEVENT delivers: one u32 virt_id. */
struct rec {
	struct iommufd_vevent_header hdr;
	uint32_t virt_id;
};

static struct iommufd_ctx *tctx(void)
{
	return &tfd->ictx;
}

/* A vIOMMU as far as the core's tables go: no driver, no parent HWPT. */
static struct iommufd_viommu *fake_viommu(void)
{
	struct iommufd_viommu *viommu;
	struct iommufd_object *obj;

	obj = _iommufd_object_alloc(tctx(), sizeof(*viommu),
				    IOMMUFD_OBJ_VIOMMU);
	ck_assert(!IS_ERR(obj));
	viommu = (struct iommufd_viommu *)obj;
	viommu->ictx = tctx();
	pthread_rwlock_init(&viommu->veventqs_rwsem, NULL);
	pthread_rwlock_init(&viommu->vdevs_lock, NULL);
	iommufd_object_finalize(tctx(), obj);
	return viommu;
}

static int users(struct iommufd_viommu *viommu)
{
	return refcount_read(&viommu->obj.users);
}

static int veventq_alloc(uint32_t viommu_id, uint32_t type, uint32_t depth,
			 uint32_t *id, int *efd)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.type = type,
		.veventq_depth = depth,
	};
	int rc = isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd);

	if (!rc) {
		*id = cmd.out_veventq_id;
		*efd = (int)cmd.out_veventq_fd;
	}
	return rc;
}

static int trigger(struct iommufd_viommu *viommu, uint32_t virt_id)
{
	return iommufd_viommu_report_event(viommu, EVT, &virt_id,
					   sizeof(virt_id));
}

static bool readable(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	ck_assert_int_ge(poll(&p, 1, 0), 0);
	return p.revents & POLLIN;
}

/* Close the fd, destroy the queue and then the vIOMMU; all must work. */
static void teardown_queue(struct iommufd_viommu *viommu, uint32_t id, int efd)
{
	uint32_t viommu_id = viommu->obj.id;

	ck_assert_int_eq(isim_fd_close(tfd, efd), 0);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	ck_assert_int_eq(obj_destroy(tfd, viommu_id), 0);
}

START_TEST(alloc_rules)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu->obj.id,
		.type = EVT,
		.veventq_depth = 2,
	};
	uint32_t id, id2, ioas;
	int efd, efd2;

	ck_assert_int_eq(ioas_alloc(tfd, &ioas), 0);
	/* Row 44, in the order the kernel checks. */
	cmd.flags = 1;
	cmd.veventq_depth = 0;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -EOPNOTSUPP);
	cmd.flags = 0;
	cmd.__reserved = 1;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -EOPNOTSUPP);
	cmd.__reserved = 0;
	cmd.type = IOMMU_VEVENTQ_TYPE_DEFAULT;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -EOPNOTSUPP);
	cmd.type = EVT;
	cmd.viommu_id = 0;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -EINVAL);
	cmd.veventq_depth = 2;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -ENOENT);
	cmd.viommu_id = ioas;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -ENOENT);
	/* One byte short of out_veventq_fd: the dispatcher's EINVAL. */
	cmd.viommu_id = viommu->obj.id;
	cmd.size = 27;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd), -EINVAL);
	ck_assert_int_eq(users(viommu), 1);

	/* Row 45: one queue per type per vIOMMU; no upper bound on depth. */
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_uint_eq(id, ioas + 1);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id2, &efd2),
			 -EEXIST);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT + 1, UINT32_MAX, &id2,
				       &efd2),
			 0);
	ck_assert_uint_eq(id2, id + 1);
	ck_assert_int_ne(efd2, efd);
	ck_assert(fcntl(efd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(efd, F_GETFL) & O_NONBLOCK);
	ck_assert_int_eq(users(viommu), 3);
	ck_assert_int_eq(obj_destroy(tfd, viommu->obj.id), -EBUSY);
	assert_invariants(tm);

	ck_assert_int_eq(isim_fd_close(tfd, efd2), 0);
	ck_assert_int_eq(obj_destroy(tfd, id2), 0);
	teardown_queue(viommu, id, efd);
	ck_assert_int_eq(obj_destroy(tfd, ioas), 0);
	assert_invariants(tm);
}
END_TEST

/* Rows 46-47: overflow leaves a payload-less LOST record at the tail. */
START_TEST(overflow_then_continue)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct rec r[4];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger(viommu, 0x88), 0);
	assert_invariants(tm);
	memset(r, 0xff, sizeof(r));
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)),
			 2 * sizeof(struct rec) + sizeof(r[0].hdr));
	ck_assert_uint_eq(r[0].hdr.flags, 0);
	ck_assert_uint_eq(r[0].hdr.sequence, 0);
	ck_assert_uint_eq(r[0].virt_id, 0x88);
	ck_assert_uint_eq(r[1].hdr.flags, 0);
	ck_assert_uint_eq(r[1].hdr.sequence, 1);
	ck_assert_uint_eq(r[1].virt_id, 0x88);
	ck_assert_uint_eq(r[2].hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
	ck_assert_uint_eq(r[2].hdr.sequence, 2);
	/* The marker carried no payload: the next bytes are untouched. */
	ck_assert_uint_eq(r[2].virt_id, 0xffffffff);

	ck_assert_int_eq(trigger(viommu, 0x88), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), sizeof(struct rec));
	ck_assert_uint_eq(r[0].hdr.flags, 0);
	ck_assert_uint_eq(r[0].hdr.sequence, 3);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), 0);
	assert_invariants(tm);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Rows 48-49: never blocks, and never splits a record. */
START_TEST(empty_and_short_reads)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct rec r[2];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), 0);
	ck_assert_int_eq(isim_read(tfd, efd, NULL, 0), 0);
	ck_assert_int_eq(trigger(viommu, 7), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(struct rec) - 1), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r[0].hdr)), 0);
	ck_assert(readable(efd));
	ck_assert_int_eq(trigger(viommu, 8), 0);
	/* Room for one and a half records: one comes out. */
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(struct rec) * 3 / 2),
			 sizeof(struct rec));
	ck_assert_uint_eq(r[0].virt_id, 7);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), sizeof(struct rec));
	ck_assert_uint_eq(r[0].virt_id, 8);
	ck_assert_uint_eq(r[0].hdr.sequence, 1);
	/* The marker alone fits in a header-sized buffer. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger(viommu, 9), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, 2 * sizeof(struct rec)),
			 2 * sizeof(struct rec));
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r[0].hdr)),
			 sizeof(r[0].hdr));
	ck_assert_uint_eq(r[0].hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
	ck_assert_uint_eq(r[0].hdr.sequence, 4);
	ck_assert(!readable(efd));
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Row 52: however many are dropped, one marker with the latest sequence. */
START_TEST(one_marker_only)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct rec r[8];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(trigger(viommu, (uint32_t)i), 0);
	assert_invariants(tm);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)),
			 2 * sizeof(struct rec) + sizeof(r[0].hdr));
	ck_assert_uint_eq(r[0].hdr.sequence, 0);
	ck_assert_uint_eq(r[0].virt_id, 0);
	ck_assert_uint_eq(r[1].hdr.sequence, 1);
	ck_assert_uint_eq(r[1].virt_id, 1);
	ck_assert_uint_eq(r[2].hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
	ck_assert_uint_eq(r[2].hdr.sequence, 4);

	/*
	 * A normal event behind a marker replaces it: five more make
	 * [5, 6, LOST(9)]; after reading one, the next event (seq 10)
	 * supersedes the marker, and the jump 6 → 10 tells of the loss.
	 */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(trigger(viommu, (uint32_t)i), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(struct rec)),
			 sizeof(struct rec));
	ck_assert_uint_eq(r[0].hdr.sequence, 5);
	ck_assert_int_eq(trigger(viommu, 0x42), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)),
			 2 * sizeof(struct rec));
	ck_assert_uint_eq(r[0].hdr.sequence, 6);
	ck_assert_uint_eq(r[1].hdr.flags, 0);
	ck_assert_uint_eq(r[1].hdr.sequence, 10);
	ck_assert_uint_eq(r[1].virt_id, 0x42);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Row 53: sequence numbers count modulo 2^31. */
START_TEST(sequence_wraps_at_int_max)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct iommufd_object *obj;
	struct rec r[2];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 4, &id, &efd), 0);
	obj = iommufd_get_object(tctx(), id, IOMMUFD_OBJ_VEVENTQ);
	ck_assert(!IS_ERR(obj));
	iommufd_veventq_set_sequence((struct iommufd_veventq *)obj, INT_MAX);
	iommufd_put_object(tctx(), obj);
	ck_assert_int_eq(trigger(viommu, 1), 0);
	ck_assert_int_eq(trigger(viommu, 2), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), sizeof(r));
	ck_assert_uint_eq(r[0].hdr.sequence, INT_MAX);
	ck_assert_uint_eq(r[1].hdr.sequence, 0);
	assert_invariants(tm);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Row 50 and the driver-side argument checks. */
START_TEST(report_without_queue)
{
	struct iommufd_viommu *viommu = fake_viommu();
	uint32_t virt = 1, id;
	int efd;

	ck_assert_int_eq(trigger(viommu, 1), -EOPNOTSUPP);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT + 1, 2, &id, &efd), 0);
	ck_assert_int_eq(trigger(viommu, 1), -EOPNOTSUPP);
	ck_assert_int_eq(iommufd_viommu_report_event(viommu, EVT + 1, &virt,
						     sizeof(virt)),
			 0);
	/* An empty event is a driver bug (kernel WARN). */
	ck_assert_int_eq(iommufd_viommu_report_event(viommu, EVT + 1, &virt, 0),
			 -EINVAL);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 1);
	atomic_store(&tm->warnings, 0);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* POLLIN exactly while something can be read. */
START_TEST(poll_follows_the_queue)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct rec r[4];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert(!readable(efd));
	ck_assert_int_eq(trigger(viommu, 1), 0);
	ck_assert(readable(efd));
	ck_assert_int_eq(trigger(viommu, 2), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(struct rec)),
			 sizeof(struct rec));
	ck_assert(readable(efd));
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(struct rec)),
			 sizeof(struct rec));
	ck_assert(!readable(efd));
	/* A queue holding only the lost marker is readable too. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger(viommu, 3), 0);
	ck_assert_int_eq(isim_read(tfd, efd, r, 2 * sizeof(struct rec)),
			 2 * sizeof(struct rec));
	ck_assert(readable(efd));
	assert_invariants(tm);
	ck_assert_int_eq(isim_read(tfd, efd, r, sizeof(r)), sizeof(r[0].hdr));
	ck_assert(!readable(efd));
	assert_invariants(tm);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Row 51 and the fd calls' errors. */
START_TEST(open_fd_pins_the_queue)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct iommufd_object *obj;
	uint32_t id, id2;
	char c = 0;
	int efd, efd2;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	obj = iommufd_get_object(tctx(), id, IOMMUFD_OBJ_VEVENTQ);
	ck_assert_int_eq(refcount_read(&obj->users), 3);
	iommufd_put_object(tctx(), obj);
	ck_assert_int_eq(obj_destroy(tfd, id), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, viommu->obj.id), -EBUSY);
	ck_assert_int_eq(isim_write(tfd, efd, &c, 1), -EINVAL);
	ck_assert_int_eq(isim_read(tfd, efd + 1000, &c, 1), -EBADF);
	ck_assert_int_eq(isim_write(tfd, -1, &c, 1), -EBADF);
	ck_assert_int_eq(isim_fd_close(tfd, efd + 1000), -EBADF);

	ck_assert_int_eq(isim_fd_close(tfd, efd), 0);
	ck_assert_int_eq(isim_fd_close(tfd, efd), -EBADF);
	ck_assert_int_eq(isim_read(tfd, efd, &c, 1), -EBADF);
	/* Events still queue (and are freed) with nobody to read them. */
	ck_assert_int_eq(trigger(viommu, 1), 0);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	ck_assert_int_eq(users(viommu), 1);
	/* The type is free again, and so is the lowest ID. */
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id2, &efd2), 0);
	ck_assert_uint_eq(id2, id);
	teardown_queue(viommu, id2, efd2);
}
END_TEST

/* A fd of one context means nothing to another. */
START_TEST(fds_are_per_context)
{
	struct iommufd_viommu *viommu = fake_viommu();
	struct isim_fd *fd2;
	char buf[16];
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_int_eq(isim_open(tm, &fd2), 0);
	ck_assert_int_eq(isim_read(fd2, efd, buf, sizeof(buf)), -EBADF);
	ck_assert_int_eq(isim_fd_close(fd2, efd), -EBADF);
	isim_close(fd2);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* A copy fault: whole records before it count, the faulting one stays. */
START_TEST(read_fault_keeps_the_record)
{
	struct iommufd_viommu *viommu = fake_viommu();
	long pg = sysconf(_SC_PAGESIZE);
	struct rec r;
	uint8_t *map;
	uint32_t id;
	int efd;

	map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_int_eq(trigger(viommu, 1), 0);
	ck_assert_int_eq(trigger(viommu, 2), 0);

	ck_assert_int_eq(isim_read(tfd, efd, map + pg, sizeof(r)), -EFAULT);
	ck_assert_int_eq(isim_read(tfd, efd, NULL, sizeof(r)), -EFAULT);
	/* Room for one record before the hole, then the second faults. */
	ck_assert_int_eq(isim_read(tfd, efd, map + pg - sizeof(r),
				   2 * sizeof(r)),
			 sizeof(r));
	memcpy(&r, map + pg - sizeof(r), sizeof(r));
	ck_assert_uint_eq(r.virt_id, 1);
	ck_assert(readable(efd));
	assert_invariants(tm);
	ck_assert_int_eq(isim_read(tfd, efd, &r, sizeof(r)), sizeof(r));
	ck_assert_uint_eq(r.virt_id, 2);
	ck_assert_uint_eq(r.hdr.sequence, 1);

	/* The lost marker faulting on its own stays too. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger(viommu, 3), 0);
	ck_assert_int_eq(isim_read(tfd, efd, map + pg - 2 * sizeof(r),
				   3 * sizeof(r)),
			 2 * sizeof(r));
	ck_assert_int_eq(isim_read(tfd, efd, map + pg, sizeof(r)), -EFAULT);
	ck_assert_int_eq(isim_read(tfd, efd, &r, sizeof(r)), sizeof(r.hdr));
	ck_assert_uint_eq(r.hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
	munmap(map, (size_t)pg * 2);
	teardown_queue(viommu, id, efd);
}
END_TEST

static int count_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* EFAULT on the reply: fd closed, queue unlinked, vIOMMU ref dropped. */
START_TEST(unwritable_reply_aborts)
{
	struct iommufd_viommu *viommu = fake_viommu();
	long pg = sysconf(_SC_PAGESIZE);
	struct iommu_veventq_alloc *cmd;
	int fds = count_open_fds();
	uint32_t id;
	int efd;
	void *map;

	map = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	cmd = map;
	*cmd = (struct iommu_veventq_alloc){
		.size = sizeof(*cmd),
		.viommu_id = viommu->obj.id,
		.type = EVT,
		.veventq_depth = 2,
	};
	ck_assert_int_eq(mprotect(map, (size_t)pg, PROT_READ), 0);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, cmd), -EFAULT);
	munmap(map, (size_t)pg);
	ck_assert_int_eq(count_open_fds(), fds);
	ck_assert_int_eq(users(viommu), 1);
	ck_assert_int_eq(trigger(viommu, 1), -EOPNOTSUPP);
	ck_assert_uint_eq(tctx()->objects.count, 1);
	assert_invariants(tm);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_uint_eq(id, viommu->obj.id + 1);
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Every fallible point of the alloc unwinds to the state before it. */
START_TEST(fail_nth_alloc)
{
	struct iommufd_viommu *viommu = fake_viommu();
	int fds = count_open_fds();
	uint32_t id = 0;
	unsigned n;
	int efd = -1;

	for (n = 1; n < 50; n++) {
		int rc;

		isim_fail_nth_set(n);
		rc = veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd);
		if (isim_fail_nth_get()) {
			isim_fail_nth_set(0);
			ck_assert_int_eq(rc, 0);
			break;
		}
		ck_assert_int_ne(rc, 0);
		ck_assert_int_eq(users(viommu), 1);
		ck_assert_uint_eq(tctx()->objects.count, 1);
		ck_assert_int_eq(count_open_fds(), fds);
		assert_invariants(tm);
	}
	ck_assert_uint_gt(n, 1);
	ck_assert_uint_lt(n, 50);
	/* Allocation failure while reporting: the event becomes the marker. */
	isim_fail_nth_set(1);
	ck_assert_int_eq(trigger(viommu, 1), -ENOMEM);
	isim_fail_nth_set(0);
	{
		struct rec r;

		ck_assert_int_eq(isim_read(tfd, efd, &r, sizeof(r)),
				 sizeof(r.hdr));
		ck_assert_uint_eq(r.hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
		ck_assert_uint_eq(r.hdr.sequence, 0);
	}
	teardown_queue(viommu, id, efd);
}
END_TEST

/* Close of the context: the simulator closes what the program left open. */
START_TEST(release_all_closes_fds)
{
	struct iommufd_viommu *viommu = fake_viommu();
	int fds = count_open_fds();
	uint32_t id, id2;
	int efd, efd2;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT + 1, 2, &id2, &efd2),
			 0);
	ck_assert_int_eq(trigger(viommu, 1), 0);
	ck_assert_int_eq(count_open_fds(), fds + 2);
	iommufd_anon_fds_release_all(tctx());
	ck_assert_int_eq(count_open_fds(), fds);
	ck_assert_int_eq(isim_read(tfd, efd, &id, sizeof(id)), -EBADF);
	assert_invariants(tm);
	/* Every object is down to the table's ref: close can take them all. */
}
END_TEST

/* Nothing closed by the program: isim_close() must cope on its own. */
START_TEST(close_with_fd_open)
{
	struct iommufd_viommu *viommu = fake_viommu();
	int fds = count_open_fds();
	uint32_t id;
	int efd;

	ck_assert_int_eq(veventq_alloc(viommu->obj.id, EVT, 2, &id, &efd), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger(viommu, 1), 0);
	isim_close(tfd);
	tfd = NULL;
	ck_assert_int_eq(count_open_fds(), fds);
	assert_invariants(tm);
	/* The fixture's teardown closes a fresh context. */
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
}
END_TEST

struct race {
	struct iommufd_viommu *viommu;
	int efd;
	unsigned n;
	unsigned got;
	bool bad_order;
	bool report_failed;
};

static void *reporter(void *arg)
{
	struct race *rc = arg;

	/* No ck_assert off the test's thread: flag it for the test. */
	for (unsigned i = 0; i < rc->n; i++)
		if (trigger(rc->viommu, i))
			rc->report_failed = true;
	return NULL;
}

static void *reader(void *arg)
{
	struct race *rc = arg;
	struct rec r[16] = { 0 };	/* valgrind cannot see our copies */
	uint32_t next = 0;

	while (rc->got < rc->n) {
		struct pollfd p = { .fd = rc->efd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			break;
		n = isim_read(tfd, rc->efd, r, sizeof(r));
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(r[0]); i++) {
			if (r[i].hdr.sequence != next || r[i].virt_id != next)
				rc->bad_order = true;
			next++;
			rc->got++;
		}
	}
	return NULL;
}

/* A driver thread reports while the program polls and reads. */
START_TEST(concurrent_report_and_read)
{
	struct race rc = { .n = 5000 };
	pthread_t t1, t2;
	uint32_t id;

	rc.viommu = fake_viommu();
	ck_assert_int_eq(veventq_alloc(rc.viommu->obj.id, EVT, rc.n, &id,
				       &rc.efd),
			 0);
	pthread_create(&t2, NULL, reader, &rc);
	pthread_create(&t1, NULL, reporter, &rc);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	ck_assert_uint_eq(rc.got, rc.n);
	ck_assert(!rc.bad_order);
	ck_assert(!rc.report_failed);
	ck_assert(!readable(rc.efd));
	assert_invariants(tm);
	teardown_queue(rc.viommu, id, rc.efd);
}
END_TEST

static void *read_until_closed(void *arg)
{
	struct race *rc = arg;
	struct rec r;

	while (isim_read(tfd, rc->efd, &r, sizeof(r)) != -EBADF)
		;
	return NULL;
}

/* Closing the fd under a reader: whoever is last releases it. */
START_TEST(close_races_read)
{
	struct race rc = { 0 };
	pthread_t t;
	uint32_t id;

	rc.viommu = fake_viommu();
	for (int round = 0; round < 50; round++) {
		ck_assert_int_eq(veventq_alloc(rc.viommu->obj.id, EVT, 4, &id,
					       &rc.efd),
				 0);
		pthread_create(&t, NULL, read_until_closed, &rc);
		ck_assert_int_eq(trigger(rc.viommu, 1), 0);
		ck_assert_int_eq(isim_fd_close(tfd, rc.efd), 0);
		pthread_join(t, NULL);
		ck_assert_int_eq(obj_destroy(tfd, id), 0);
	}
	ck_assert_int_eq(users(rc.viommu), 1);
	assert_invariants(tm);
}
END_TEST

/* ------------------------------------------------------------ mmap */

static void count_ref(struct iommufd_object *target, bool wait, void *arg)
{
	(*(int *)arg)++;
}

static int mmap_refs(void)
{
	int n = 0;

	iommufd_mmap_for_each_ref(tctx(), count_ref, &n);
	return n;
}

/* Row 39 with a stand-in for the mock driver's two-page region. */
START_TEST(mmap_rules)
{
	struct iommufd_viommu *viommu = fake_viommu();
	size_t pg = isim_machine_page_size(tm);
	size_t len = 2 * pg;
	uint64_t off, off2, off3;
	uint32_t *page;
	void *out, *out2;

	page = aligned_alloc(pg, len);
	ck_assert_ptr_nonnull(page);
	memset(page, 0, len);
	page[0] = 0xbeef;

	/* Registration rules. */
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, (char *)page + 8, pg,
						   &off),
			 -EINVAL);
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, 0, &off),
			 -EINVAL);
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, pg + 1, &off),
			 -EINVAL);
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, len, &off), 0);
	ck_assert_uint_eq(off, pg);

	/* Only the exact region, shared, not executable. */
	ck_assert_int_eq(isim_mmap(tfd, off + pg, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, &out),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, off + 2 * pg, len,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &out),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, off, len / 2, PROT_READ | PROT_WRITE,
				   MAP_SHARED, &out),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, off, len * 2, PROT_READ | PROT_WRITE,
				   MAP_SHARED, &out),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, 0, len, PROT_READ, MAP_SHARED, &out),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, off, len - 1, PROT_READ, MAP_SHARED,
				   &out),
			 -EINVAL);
	ck_assert_int_eq(isim_mmap(tfd, off, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, &out),
			 -EINVAL);
	ck_assert_int_eq(isim_mmap(tfd, off, len, PROT_READ | PROT_EXEC,
				   MAP_SHARED, &out),
			 -EPERM);
	ck_assert_int_eq(users(viommu), 1);

	ck_assert_int_eq(isim_mmap(tfd, off, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, &out),
			 0);
	ck_assert_ptr_eq(out, page);
	ck_assert_uint_eq(*(uint32_t *)out, 0xbeef);
	ck_assert_int_eq(users(viommu), 2);
	ck_assert_int_eq(obj_destroy(tfd, viommu->obj.id), -EBUSY);
	ck_assert_int_eq(isim_mmap(tfd, off, len, PROT_READ,
				   MAP_SHARED_VALIDATE, &out2),
			 0);
	ck_assert_ptr_eq(out2, page);
	ck_assert_int_eq(users(viommu), 3);
	ck_assert_int_eq(mmap_refs(), 2);

	ck_assert_int_eq(isim_munmap(tfd, out, len), 0);
	ck_assert_int_eq(isim_munmap(tfd, (char *)out + pg, pg), -EINVAL);
	ck_assert_int_eq(isim_munmap(tfd, out, pg), -EINVAL);
	ck_assert_int_eq(isim_munmap(tfd, out2, len), 0);
	ck_assert_int_eq(isim_munmap(tfd, out, len), -EINVAL);
	ck_assert_int_eq(users(viommu), 1);
	ck_assert_int_eq(mmap_refs(), 0);

	/* Offsets: page granular, lowest free gap first. */
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, pg, &off2), 0);
	ck_assert_uint_eq(off2, 3 * pg);
	iommufd_viommu_destroy_mmap(viommu, off);
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, pg, &off3), 0);
	ck_assert_uint_eq(off3, pg);
	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, len, &off), 0);
	ck_assert_uint_eq(off, 4 * pg);
	ck_assert_int_eq(isim_mmap(tfd, off2, pg, PROT_READ, MAP_SHARED, &out),
			 0);
	ck_assert_int_eq(isim_munmap(tfd, out, 1), 0);
	iommufd_viommu_destroy_mmap(viommu, off);
	iommufd_viommu_destroy_mmap(viommu, off2);
	iommufd_viommu_destroy_mmap(viommu, off3);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 0);
	ck_assert_int_eq(obj_destroy(tfd, viommu->obj.id), 0);
	free(page);
}
END_TEST

/* Driver bugs and the close path. */
START_TEST(mmap_destroy_while_mapped_warns)
{
	struct iommufd_viommu *viommu = fake_viommu();
	size_t pg = isim_machine_page_size(tm);
	void *page = aligned_alloc(pg, pg);
	uint64_t off;
	void *out;

	ck_assert_int_eq(iommufd_viommu_alloc_mmap(viommu, page, pg, &off), 0);
	ck_assert_int_eq(isim_mmap(tfd, off, pg, PROT_READ, MAP_SHARED, &out),
			 0);
	ck_assert_int_eq(isim_mmap(tfd, off, pg, PROT_READ, MAP_SHARED, &out),
			 0);
	iommufd_mmaps_release_all(tctx());
	ck_assert_int_eq(users(viommu), 1);
	ck_assert_int_eq(isim_munmap(tfd, out, pg), -EINVAL);

	ck_assert_int_eq(isim_mmap(tfd, off, pg, PROT_READ, MAP_SHARED, &out),
			 0);
	iommufd_viommu_destroy_mmap(viommu, off);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 1);
	ck_assert_int_eq(users(viommu), 1);
	ck_assert_int_eq(isim_munmap(tfd, out, pg), -EINVAL);
	/* Unregistering what is not there is one too. */
	iommufd_viommu_destroy_mmap(viommu, off);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 2);
	atomic_store(&tm->warnings, 0);
	ck_assert_int_eq(obj_destroy(tfd, viommu->obj.id), 0);
	free(page);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eventq");
	TCase *tc = tcase_create("veventq");
	TCase *tm_ = tcase_create("mmap");

	tcase_add_checked_fixture(tc, machine_setup, machine_teardown);
	tcase_add_test(tc, alloc_rules);
	tcase_add_test(tc, overflow_then_continue);
	tcase_add_test(tc, empty_and_short_reads);
	tcase_add_test(tc, one_marker_only);
	tcase_add_test(tc, sequence_wraps_at_int_max);
	tcase_add_test(tc, report_without_queue);
	tcase_add_test(tc, poll_follows_the_queue);
	tcase_add_test(tc, open_fd_pins_the_queue);
	tcase_add_test(tc, fds_are_per_context);
	tcase_add_test(tc, read_fault_keeps_the_record);
	tcase_add_test(tc, unwritable_reply_aborts);
	tcase_add_test(tc, fail_nth_alloc);
	tcase_add_test(tc, release_all_closes_fds);
	tcase_add_test(tc, close_with_fd_open);
	tcase_add_test(tc, concurrent_report_and_read);
	tcase_add_test(tc, close_races_read);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tm_, machine_setup, machine_teardown);
	tcase_add_test(tm_, mmap_rules);
	tcase_add_test(tm_, mmap_destroy_while_mapped_warns);
	suite_add_tcase(s, tm_);
	return run_suite(s);
}
