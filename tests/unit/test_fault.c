/*
 * FAULT objects and I/O page faults (sim/iommufd/fault.c), nested HWPTs
 * straight on a nesting parent and their invalidation (hw_pagetable.c and
 * the mock), driven through the real ioctls: IOMMU_FAULT_QUEUE_ALLOC, the
 * fault fd's read/write/poll, IOMMU_HWPT_ALLOC with FAULT_ID_VALID on each
 * kind of parent, IOMMU_HWPT_INVALIDATE of a nested HWPT with
 * MD_CHECK_IOTLB, and IOMMU_TEST_OP_TRIGGER_IOPF.  The errno of each step
 * is the kernel's (spec/core.md §8.12, §8.13, §8.17; the 6.12 selftest's
 * alloc_hwpt_nested case).  Every test ends with the machine's invariant
 * check, which counts the HWPT's and the fd's references on the FAULT.
 */
#include "config.h"

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"

static uint32_t ioas_id, stdev_id, device_id, hwpt_auto;

/* ------------------------------------------------------------ helpers */

static int fault_alloc(uint32_t flags, uint32_t *id, int *fd)
{
	struct iommu_fault_alloc cmd = { .size = sizeof(cmd), .flags = flags };
	int rc = isim_ioctl(tfd, IOMMU_FAULT_QUEUE_ALLOC, &cmd);

	if (!rc) {
		*id = cmd.out_fault_id;
		*fd = (int)cmd.out_fault_fd;
	}
	return rc;
}

static struct iommu_hwpt_selftest sdata = {
	.iotlb = IOMMU_TEST_IOTLB_DEFAULT,
};

static int nested_alloc(uint32_t parent, uint32_t flags, uint32_t *out)
{
	return hwpt_alloc_fault(tfd, device_id, parent, 0, flags,
				IOMMU_HWPT_DATA_SELFTEST, &sdata, sizeof(sdata),
				out);
}

static void assert_iotlb(uint32_t hwpt, uint32_t a, uint32_t b, uint32_t c,
			 uint32_t d)
{
	ck_assert_int_eq(md_check_iotlb(tfd, hwpt, 0, a), 0);
	ck_assert_int_eq(md_check_iotlb(tfd, hwpt, 1, b), 0);
	ck_assert_int_eq(md_check_iotlb(tfd, hwpt, 2, c), 0);
	ck_assert_int_eq(md_check_iotlb(tfd, hwpt, 3, d), 0);
}

static int trigger_iopf(uint32_t dev, uint32_t pasid, uint32_t grpid,
			uint64_t addr)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_TRIGGER_IOPF,
		.trigger_iopf = {
			.dev_id = dev,
			.pasid = pasid,
			.grpid = grpid,
			.perm = IOMMU_PGFAULT_PERM_READ |
				IOMMU_PGFAULT_PERM_WRITE,
			.addr = addr,
		},
	};

	return test_cmd(tfd, &cmd);
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert(pfd.revents & POLLOUT);	/* a fault fd is always writable */
	return pfd.revents & POLLIN;
}

static ssize_t respond(int fd, uint32_t cookie, uint32_t code)
{
	struct iommu_hwpt_page_response r = { .cookie = cookie, .code = code };

	return isim_write(tfd, fd, &r, sizeof(r));
}

static int users(uint32_t id)
{
	struct iommufd_object *obj =
		iommufd_get_object(&tfd->ictx, id, IOMMUFD_OBJ_ANY);
	int n;

	ck_assert(!IS_ERR(obj));
	n = refcount_read(&obj->users) - 1;	/* less our lookup */
	iommufd_put_object(&tfd->ictx, obj);
	return n;
}

/* An IOAS with one mock device attached to it through an auto domain. */
static void setup(void)
{
	machine_setup();
	ck_assert_int_eq(ioas_alloc(tfd, &ioas_id), 0);
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 0, &stdev_id,
					   &hwpt_auto, &device_id),
			 0);
}

static void teardown(void)
{
	assert_invariants(tm);
	machine_teardown();
}

/* ------------------------------------------------- FAULT_QUEUE_ALLOC */

START_TEST(queue_alloc_and_destroy)
{
	uint32_t id, id2;
	int fd, fd2;

	ck_assert_int_eq(fault_alloc(1, &id, &fd), -EOPNOTSUPP);
	ck_assert_int_eq(fault_alloc(0x80000000u, &id, &fd), -EOPNOTSUPP);
	ck_assert_int_eq(fault_alloc(0, &id, &fd), 0);
	ck_assert_uint_ne(id, 0);
	ck_assert_int_gt(fd, 0);
	/* The fd holds the object: DESTROY is EBUSY until it is closed. */
	ck_assert_int_eq(users(id), 2);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, id), -EBUSY);
	/* Nothing queued: reads give 0 and the fd is not readable. */
	ck_assert(!readable(fd));
	{
		struct iommu_hwpt_pgfault rec;

		ck_assert_int_eq(isim_read(tfd, fd, &rec, sizeof(rec)), 0);
	}
	/* A second queue is independent. */
	ck_assert_int_eq(fault_alloc(0, &id2, &fd2), 0);
	ck_assert_uint_ne(id2, id);
	ck_assert_int_ne(fd2, fd);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(users(id), 1);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	ck_assert_int_eq(obj_destroy(tfd, id), -ENOENT);
	/* The fd is gone with its close; the other one still works. */
	ck_assert_int_eq(isim_write(tfd, fd, NULL, 0), -EBADF);
	ck_assert_int_eq(isim_write(tfd, fd2, NULL, 0), 0);
	/* Closing the context with a queue and its fd open is clean. */
}
END_TEST

/* A reply that cannot be written back undoes the object and its fd. */
START_TEST(queue_alloc_reply_fault)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct iommu_fault_alloc *cmd;
	uint32_t id;
	int fd;

	cmd = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(cmd != MAP_FAILED);
	cmd->size = sizeof(*cmd);
	ck_assert_int_eq(mprotect(cmd, pg, PROT_READ), 0);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_FAULT_QUEUE_ALLOC, cmd),
			 -EFAULT);
	munmap(cmd, pg);
	assert_invariants(tm);
	/* The ID came back: the next object takes the same lowest one. */
	ck_assert_int_eq(fault_alloc(0, &id, &fd), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	ck_assert_int_eq(fault_alloc(0, &id, &fd), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
}
END_TEST

/* ------------------------------------------- HWPT_ALLOC FAULT_ID_VALID */

START_TEST(hwpt_fault_id)
{
	uint32_t fault_id, hwpt, parent;
	int fd;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	/* NEST_PARENT with a fault: EOPNOTSUPP before the ID is looked at. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, UINT32_MAX,
					  IOMMU_HWPT_ALLOC_NEST_PARENT |
						  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 -EOPNOTSUPP);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_ALLOC_NEST_PARENT |
						  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 -EOPNOTSUPP);
	/* No such FAULT, or an object of another type: ENOENT. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, UINT32_MAX,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 -ENOENT);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, ioas_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 -ENOENT);
	/* The failed allocations left nothing behind. */
	assert_invariants(tm);
	ck_assert_int_eq(users(ioas_id), 1 + 1);	/* the auto HWPT */
	ck_assert_int_eq(users(fault_id), 2);
	/* Without FAULT_ID_VALID, fault_id is not looked at. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, UINT32_MAX,
					  0, IOMMU_HWPT_DATA_NONE, NULL, 0,
					  &hwpt),
			 0);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);

	/* A paging HWPT with a fault queue holds it. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 0);
	ck_assert_int_eq(users(fault_id), 3);
	assert_invariants(tm);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), -EBUSY);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);
	ck_assert_int_eq(users(fault_id), 1);

	/* A nested HWPT on a parent too; its destroy lets the queue go. */
	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent),
			 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_SELFTEST, &sdata,
					  sizeof(sdata), &hwpt),
			 0);
	ck_assert_int_eq(users(fault_id), 2);
	ck_assert_int_eq(users(parent), 2);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, parent), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), 0);
	ck_assert_int_eq(obj_destroy(tfd, parent), 0);
}
END_TEST

/* A HWPT holding the FAULT at context close: torn down in order. */
START_TEST(hwpt_fault_close)
{
	uint32_t fault_id, hwpt;
	int fd;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, hwpt, NULL), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 1, 0x1000), 0);
	ck_assert(readable(fd));
}
END_TEST

/* ----------------------------------------- nested HWPT on a parent */

/* The 6.12 selftest's alloc_hwpt_nested allocation rules, in its order. */
START_TEST(nested_alloc_rules)
{
	const uint32_t min_len = offsetof(struct iommu_hwpt_selftest, iotlb) +
				 sizeof(sdata.iotlb);
	uint32_t parent, not_parent, nested[2], test_id;

	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent),
			 0);
	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id, 0, &not_parent),
			 0);

	/* DATA_NONE with data: the core's EINVAL. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, 0, 0,
					  IOMMU_HWPT_DATA_NONE, &sdata,
					  sizeof(sdata), &test_id),
			 -EINVAL);
	/* A type the mock does not know. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, 0, 0,
					  IOMMU_HWPT_DATA_SELFTEST + 1, &sdata,
					  sizeof(sdata), &test_id),
			 -EOPNOTSUPP);
	/* Shorter than iotlb's end; NULL data. */
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, 0, 0,
					  IOMMU_HWPT_DATA_SELFTEST, &sdata,
					  min_len - 1, &test_id),
			 -EINVAL);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, 0, 0,
					  IOMMU_HWPT_DATA_SELFTEST, NULL,
					  sizeof(sdata), &test_id),
			 -EFAULT);
	/* Flags a nested HWPT cannot have, whatever the parent. */
	ck_assert_int_eq(nested_alloc(parent, IOMMU_HWPT_ALLOC_NEST_PARENT,
				      &test_id), -EOPNOTSUPP);
	ck_assert_int_eq(nested_alloc(parent, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				      &test_id), -EOPNOTSUPP);
	ck_assert_int_eq(nested_alloc(not_parent, IOMMU_HWPT_ALLOC_NEST_PARENT,
				      &test_id), -EOPNOTSUPP);
	/* A parent that is not NEST_PARENT, or an auto domain: EINVAL. */
	ck_assert_int_eq(nested_alloc(not_parent, 0, &test_id), -EINVAL);
	ck_assert_int_eq(nested_alloc(hwpt_auto, 0, &test_id), -EINVAL);
	assert_invariants(tm);
	ck_assert_int_eq(users(parent), 1);

	ck_assert_int_eq(nested_alloc(parent, 0, &nested[0]), 0);
	ck_assert_int_eq(nested_alloc(parent, IOMMU_HWPT_ALLOC_PASID,
				      &nested[1]), 0);
	for (int i = 0; i < 2; i++)
		assert_iotlb(nested[i], IOMMU_TEST_IOTLB_DEFAULT,
			     IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT,
			     IOMMU_TEST_IOTLB_DEFAULT);
	ck_assert_int_eq(md_check_iotlb(tfd, nested[0], 4,
					IOMMU_TEST_IOTLB_DEFAULT),
			 -EINVAL);
	ck_assert_int_eq(md_check_iotlb(tfd, nested[0], 0, 0), -EINVAL);
	/* MD_CHECK_IOTLB is for nested HWPTs only. */
	ck_assert_int_eq(md_check_iotlb(tfd, parent, 0,
					IOMMU_TEST_IOTLB_DEFAULT),
			 -ENOENT);
	/* A nested HWPT is no parent. */
	ck_assert_int_eq(nested_alloc(nested[0], 0, &test_id), -EINVAL);
	/* The nested HWPTs hold their parent. */
	ck_assert_int_eq(users(parent), 3);
	ck_assert_int_eq(obj_destroy(tfd, parent), -EBUSY);
	assert_invariants(tm);

	/* Attach, replace, and the EBUSY of an attached nested HWPT. */
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested[0], NULL),
			 0);
	ck_assert_int_eq(obj_destroy(tfd, nested[0]), -EBUSY);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested[1], NULL),
			 0);
	ck_assert_int_eq(obj_destroy(tfd, nested[0]), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, parent, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, nested[1]), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, parent), 0);
	ck_assert_int_eq(obj_destroy(tfd, not_parent), 0);
}
END_TEST

START_TEST(nested_invalidate)
{
	struct iommu_hwpt_invalidate_selftest inv[2] = { 0 };
	const uint32_t D = IOMMU_TEST_IOTLB_DEFAULT;
	uint32_t parent, nested[2], num;

	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent),
			 0);
	ck_assert_int_eq(nested_alloc(parent, 0, &nested[0]), 0);
	ck_assert_int_eq(nested_alloc(parent, 0, &nested[1]), 0);

	/* Only a user-managed (nested) HWPT or a vIOMMU takes it. */
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, parent,
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, ioas_id,
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, UINT32_MAX,
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -ENOENT);
	ck_assert_uint_eq(num, 0);

	/* A zero-length array checks the data type only. */
	num = 0;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 0);
	ck_assert_uint_eq(num, 0);
	num = 0;
	ck_assert_int_eq(
		hwpt_invalidate(tfd, nested[0],
				IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
				inv, sizeof(*inv), &num),
		-EINVAL);
	num = 1;
	ck_assert_int_eq(
		hwpt_invalidate(tfd, nested[0],
				IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
				inv, sizeof(*inv), &num),
		-EINVAL);
	ck_assert_uint_eq(num, 0);

	/* Entry size: neither longer (even with zero tail) nor shorter. */
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv) + 1, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, 1, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);

	/* Bad flags; no array; no entry length (the core's EINVAL). */
	num = 1;
	inv[0].flags = 0xffffffff;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(num, 0);
	num = 1;
	inv[0].flags = 0;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 NULL, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, 0, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	/* An unreadable array. */
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 (void *)8, sizeof(*inv), &num),
			 -EFAULT);
	ck_assert_uint_eq(num, 0);

	/* An IOTLB slot past 3. */
	num = 1;
	inv[0].iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	assert_iotlb(nested[0], D, D, D, D);

	/* The first entry is done before the second one's bad flags... */
	num = 2;
	inv[0] = (struct iommu_hwpt_invalidate_selftest){ 0, 0 };
	inv[1] = (struct iommu_hwpt_invalidate_selftest){ 0xffffffff, 1 };
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(num, 1);
	assert_iotlb(nested[0], 0, D, D, D);
	/* ...or its bad slot. */
	num = 2;
	inv[1] = (struct iommu_hwpt_invalidate_selftest){
		0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1
	};
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 1);
	assert_iotlb(nested[0], 0, D, D, D);

	num = 1;
	inv[0].iotlb_id = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 0);
	ck_assert_uint_eq(num, 1);
	assert_iotlb(nested[0], 0, 0, D, D);
	num = 2;
	inv[0].iotlb_id = 2;
	inv[1] = (struct iommu_hwpt_invalidate_selftest){ 0, 3 };
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[0],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 0);
	ck_assert_uint_eq(num, 2);
	assert_iotlb(nested[0], 0, 0, 0, 0);
	/*
	 * FLAG_ALL clears every slot whatever iotlb_id names, but the slot
	 * is checked first all the same.  The other nested HWPT was
	 * untouched so far.
	 */
	assert_iotlb(nested[1], D, D, D, D);
	num = 1;
	inv[0] = (struct iommu_hwpt_invalidate_selftest){
		IOMMU_TEST_INVALIDATE_FLAG_ALL, 77
	};
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[1],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	assert_iotlb(nested[1], D, D, D, D);
	num = 1;
	inv[0].iotlb_id = 3;
	ck_assert_int_eq(hwpt_invalidate(tfd, nested[1],
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 inv, sizeof(*inv), &num),
			 0);
	ck_assert_uint_eq(num, 1);
	assert_iotlb(nested[1], 0, 0, 0, 0);

	ck_assert_int_eq(obj_destroy(tfd, nested[0]), 0);
	ck_assert_int_eq(obj_destroy(tfd, nested[1]), 0);
	ck_assert_int_eq(obj_destroy(tfd, parent), 0);
}
END_TEST

/* A nested HWPT on a vIOMMU: a fault queue, and its own invalidation. */
START_TEST(viommu_nested_fault)
{
	struct iommu_hwpt_invalidate_selftest inv = { 0, 2 };
	uint32_t parent, viommu, vdev, nested, fault_id, num = 1;
	struct iommu_hwpt_pgfault rec = { 0 };
	int fd;

	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent),
			 0);
	{
		struct iommu_viommu_alloc cmd = {
			.size = sizeof(cmd),
			.type = IOMMU_VIOMMU_TYPE_SELFTEST,
			.dev_id = device_id,
			.hwpt_id = parent,
		};

		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VIOMMU_ALLOC, &cmd), 0);
		viommu = cmd.out_viommu_id;
	}
	{
		struct iommu_vdevice_alloc cmd = {
			.size = sizeof(cmd),
			.viommu_id = viommu,
			.dev_id = device_id,
			.virt_id = 0x99,
		};

		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VDEVICE_ALLOC, &cmd), 0);
		vdev = cmd.out_vdevice_id;
	}
	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, viommu, UINT32_MAX,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_SELFTEST, &sdata,
					  sizeof(sdata), &nested),
			 -ENOENT);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, viommu, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_SELFTEST, &sdata,
					  sizeof(sdata), &nested),
			 0);
	ck_assert_int_eq(users(fault_id), 3);
	assert_invariants(tm);
	ck_assert_int_eq(hwpt_invalidate(tfd, nested,
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 &inv, sizeof(inv), &num),
			 0);
	ck_assert_uint_eq(num, 1);
	ck_assert_int_eq(md_check_iotlb(tfd, nested, 2, 0), 0);
	ck_assert_int_eq(md_check_iotlb(tfd, nested, 1,
					IOMMU_TEST_IOTLB_DEFAULT),
			 0);

	/* A PASID request goes to the nested HWPT on the RID. */
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested, NULL), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 7, 3, 0x5000), 0);
	ck_assert_int_eq(isim_read(tfd, fd, &rec, sizeof(rec)), sizeof(rec));
	ck_assert_uint_eq(rec.flags, IOMMU_PGFAULT_FLAGS_LAST_PAGE |
					     IOMMU_PGFAULT_FLAGS_PASID_VALID);
	ck_assert_uint_eq(rec.pasid, 7);
	ck_assert_uint_eq(rec.dev_id, device_id);
	ck_assert_int_eq(respond(fd, rec.cookie, IOMMUFD_PAGE_RESP_SUCCESS),
			 8);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, parent, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, nested), 0);
	ck_assert_int_eq(obj_destroy(tfd, vdev), 0);
	ck_assert_int_eq(obj_destroy(tfd, viommu), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, parent), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), 0);
}
END_TEST

/* ---------------------------------------------------------- IOPF */

/* What the 6.12 selftest does after "Switch ... to iopf_hwpt_id". */
START_TEST(iopf_roundtrip)
{
	uint32_t parent, iopf_hwpt, fault_id;
	struct iommu_hwpt_pgfault rec[3];
	int fd;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	ck_assert_int_eq(hwpt_alloc(tfd, device_id, ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent),
			 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, parent, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_SELFTEST, &sdata,
					  sizeof(sdata), &iopf_hwpt),
			 0);
	/* Not attached yet: the request has no handler and is dropped. */
	ck_assert_int_eq(trigger_iopf(device_id, 1, 2, 0xdeadbeaf), 0);
	ck_assert(!readable(fd));
	ck_assert_int_eq(trigger_iopf(UINT32_MAX, 1, 2, 0xdeadbeaf), -ENOENT);
	ck_assert_int_eq(trigger_iopf(ioas_id, 1, 2, 0xdeadbeaf), -ENOENT);

	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, iopf_hwpt, NULL),
			 0);
	ck_assert_int_eq(obj_destroy(tfd, iopf_hwpt), -EBUSY);
	ck_assert_int_eq(trigger_iopf(device_id, 1, 2, 0xdeadbeaf), 0);
	ck_assert(readable(fd));
	assert_invariants(tm);

	/* Whole records only: ESPIPE for a partial size, 0 for none. */
	ck_assert_int_eq(isim_read(tfd, fd, rec, sizeof(rec[0]) - 1), -ESPIPE);
	ck_assert_int_eq(isim_read(tfd, fd, rec, sizeof(rec[0]) + 4), -ESPIPE);
	ck_assert_int_eq(isim_read(tfd, fd, rec, 0), 0);
	ck_assert(readable(fd));
	/* A faulting buffer leaves the group queued. */
	ck_assert_int_eq(isim_read(tfd, fd, (void *)8, sizeof(rec[0])),
			 -EFAULT);
	ck_assert(readable(fd));
	assert_invariants(tm);

	memset(rec, 0xa5, sizeof(rec));
	ck_assert_int_eq(isim_read(tfd, fd, rec, sizeof(rec)), sizeof(rec[0]));
	ck_assert(!readable(fd));
	ck_assert_uint_eq(rec[0].flags, IOMMU_PGFAULT_FLAGS_LAST_PAGE |
						IOMMU_PGFAULT_FLAGS_PASID_VALID);
	ck_assert_uint_eq(rec[0].dev_id, device_id);
	ck_assert_uint_eq(rec[0].pasid, 1);
	ck_assert_uint_eq(rec[0].grpid, 2);
	ck_assert_uint_eq(rec[0].perm,
			  IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE);
	ck_assert_uint_eq(rec[0].__reserved, 0);
	ck_assert_uint_eq(rec[0].addr, 0xdeadbeaf);
	ck_assert_uint_eq(rec[0].length, 0);
	ck_assert_uint_eq(rec[0].cookie, 1);	/* the lowest free cookie */
	ck_assert_uint_eq(rec[1].flags, 0xa5a5a5a5u);	/* untouched */
	assert_invariants(tm);

	/* Responses: ESPIPE for a partial size; bad code; unknown cookie. */
	{
		struct iommu_hwpt_page_response r = { .cookie = 1 };

		ck_assert_int_eq(isim_write(tfd, fd, &r, sizeof(r) - 1),
				 -ESPIPE);
		ck_assert_int_eq(isim_write(tfd, fd, &r, 0), 0);
	}
	ck_assert_int_eq(respond(fd, 1, 2), -EINVAL);
	ck_assert_int_eq(respond(fd, 2, IOMMUFD_PAGE_RESP_SUCCESS), -EINVAL);
	ck_assert_int_eq(respond(fd, 0, IOMMUFD_PAGE_RESP_SUCCESS), -EINVAL);
	/*
	 * An unreadable response: upstream returns copy_from_user()'s count
	 * of bytes not copied, not -EFAULT.
	 */
	ck_assert_int_eq(isim_write(tfd, fd, (void *)8,
				    sizeof(struct iommu_hwpt_page_response)),
			 (ssize_t)sizeof(struct iommu_hwpt_page_response));
	ck_assert_int_eq(respond(fd, 1, IOMMUFD_PAGE_RESP_SUCCESS), 8);
	ck_assert_int_eq(respond(fd, 1, IOMMUFD_PAGE_RESP_SUCCESS), -EINVAL);
	assert_invariants(tm);

	/* Several groups: oldest first, cookies reused lowest first. */
	ck_assert_int_eq(trigger_iopf(device_id, 0, 10, 0x1000), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 11, 0x2000), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 12, 0x3000), 0);
	ck_assert_int_eq(isim_read(tfd, fd, rec, 2 * sizeof(rec[0])),
			 2 * sizeof(rec[0]));
	ck_assert_uint_eq(rec[0].grpid, 10);
	ck_assert_uint_eq(rec[0].flags, IOMMU_PGFAULT_FLAGS_LAST_PAGE);
	ck_assert_uint_eq(rec[0].cookie, 1);
	ck_assert_uint_eq(rec[1].grpid, 11);
	ck_assert_uint_eq(rec[1].cookie, 2);
	ck_assert(readable(fd));
	/* One good response then a bad one: the good one stands. */
	{
		struct iommu_hwpt_page_response r[2] = {
			{ .cookie = 2, .code = IOMMUFD_PAGE_RESP_INVALID },
			{ .cookie = 9, .code = IOMMUFD_PAGE_RESP_SUCCESS },
		};

		ck_assert_int_eq(isim_write(tfd, fd, r, sizeof(r)), 8);
	}
	ck_assert_int_eq(isim_read(tfd, fd, rec, sizeof(rec)), sizeof(rec[0]));
	ck_assert_uint_eq(rec[0].grpid, 12);
	ck_assert_uint_eq(rec[0].cookie, 2);
	ck_assert(!readable(fd));
	{
		struct iommu_hwpt_page_response r[2] = {
			{ .cookie = 1, .code = IOMMUFD_PAGE_RESP_SUCCESS },
			{ .cookie = 2, .code = IOMMUFD_PAGE_RESP_SUCCESS },
		};

		ck_assert_int_eq(isim_write(tfd, fd, r, sizeof(r)), 16);
	}
	assert_invariants(tm);

	/* Back to the parent: requests there have no handler. */
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, parent, NULL), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 1, 2, 0xdeadbeaf), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 2, 0xdeadbeaf), 0);
	ck_assert(!readable(fd));
	ck_assert_int_eq(obj_destroy(tfd, iopf_hwpt), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, parent), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), 0);
}
END_TEST

/* On a paging HWPT only requests without a PASID find the handler. */
START_TEST(iopf_paging_hwpt)
{
	struct iommu_hwpt_pgfault rec = { 0 };
	uint32_t hwpt, fault_id;
	int fd;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, hwpt, NULL), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 5, 1, 0x1000), 0);
	ck_assert(!readable(fd));
	ck_assert_int_eq(trigger_iopf(device_id, 0, 1, 0x1000), 0);
	ck_assert(readable(fd));
	ck_assert_int_eq(isim_read(tfd, fd, &rec, sizeof(rec)), sizeof(rec));
	ck_assert_uint_eq(rec.flags, IOMMU_PGFAULT_FLAGS_LAST_PAGE);
	ck_assert_uint_eq(rec.pasid, 0);
	/* Left unanswered: the destroys below answer it. */
	ck_assert_int_eq(trigger_iopf(device_id, 0, 2, 0x2000), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), 0);
}
END_TEST

/* Detach or replace answers what came through that attachment. */
START_TEST(iopf_auto_response)
{
	struct iommufd_device *idev, other = { 0 };
	struct iommufd_hw_pagetable *h;
	struct iommu_hwpt_pgfault rec = { 0 };
	struct iommufd_fault *fault;
	uint32_t hwpt, fault_id;
	int fd;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &fd), 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, hwpt, NULL), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 1, 0x1000), 0);
	ck_assert_int_eq(trigger_iopf(device_id, 0, 2, 0x2000), 0);
	ck_assert_int_eq(isim_read(tfd, fd, &rec, sizeof(rec)), sizeof(rec));
	ck_assert_uint_eq(rec.cookie, 1);
	ck_assert(readable(fd));

	idev = iommufd_get_device(&tfd->ictx, device_id);
	ck_assert(!IS_ERR(idev));
	h = iommufd_get_hwpt(&tfd->ictx, hwpt);
	ck_assert(!IS_ERR(h));
	fault = iommufd_get_fault(&tfd->ictx, fault_id);
	ck_assert(!IS_ERR(fault));
	ck_assert_ptr_eq(iommufd_hwpt_fault(h), fault);
	iommufd_put_object(&tfd->ictx, (struct iommufd_object *)fault);
	/* Another attachment's groups are not touched. */
	iommufd_fault_auto_response(h, &other);
	ck_assert(readable(fd));
	pthread_mutex_lock(&idev->dev->group_lock);
	iommufd_fault_auto_response(h, idev);
	pthread_mutex_unlock(&idev->dev->group_lock);
	ck_assert(!readable(fd));
	ck_assert_int_eq(respond(fd, 1, IOMMUFD_PAGE_RESP_SUCCESS), -EINVAL);
	iommufd_put_object(&tfd->ictx, &h->obj);
	iommufd_put_object(&tfd->ictx, &idev->obj);
	assert_invariants(tm);

	/* Direct reports: no handler after the device leaves the HWPT. */
	ck_assert_int_eq(iommufd_report_device_fault(idev->dev, 0, 3, 0, 0),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(iommufd_report_device_fault(idev->dev, 0, 3, 0, 0),
			 -ENODEV);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(obj_destroy(tfd, fault_id), 0);
}
END_TEST

/* Requests and reads racing; the queue stays consistent. */
struct race {
	int fd;
	atomic_int done;
	unsigned got;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	struct iommu_hwpt_pgfault rec[4];

	while (!atomic_load(&r->done) || readable(r->fd)) {
		ssize_t n = isim_read(tfd, r->fd, rec, sizeof(rec));

		ck_assert_int_ge(n, 0);
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(rec[0]); i++) {
			ck_assert_int_eq(respond(r->fd, rec[i].cookie,
						 IOMMUFD_PAGE_RESP_SUCCESS),
					 8);
			r->got++;
		}
	}
	return NULL;
}

START_TEST(iopf_concurrent)
{
	struct race r = { 0 };
	uint32_t hwpt, fault_id;
	pthread_t t;

	ck_assert_int_eq(fault_alloc(0, &fault_id, &r.fd), 0);
	ck_assert_int_eq(hwpt_alloc_fault(tfd, device_id, ioas_id, fault_id,
					  IOMMU_HWPT_FAULT_ID_VALID,
					  IOMMU_HWPT_DATA_NONE, NULL, 0, &hwpt),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, hwpt, NULL), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, reader, &r), 0);
	for (unsigned i = 0; i < 2000; i++)
		ck_assert_int_eq(trigger_iopf(device_id, 0, i, i * 4096ull), 0);
	atomic_store(&r.done, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(r.got, 2000);
	assert_invariants(tm);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), 0);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, queue_alloc_and_destroy);
	tcase_add_test(tc, queue_alloc_reply_fault);
	tcase_add_test(tc, hwpt_fault_id);
	tcase_add_test(tc, hwpt_fault_close);
	tcase_add_test(tc, nested_alloc_rules);
	tcase_add_test(tc, nested_invalidate);
	tcase_add_test(tc, viommu_nested_fault);
	tcase_add_test(tc, iopf_roundtrip);
	tcase_add_test(tc, iopf_paging_hwpt);
	tcase_add_test(tc, iopf_auto_response);
	tcase_add_test(tc, iopf_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
