/*
 * The VFIO type1 container ABI on an iommufd (spec/core.md §8.11, §4.13,
 * §10 quirk 6): IOMMU_VFIO_IOAS, the container ioctls the dispatcher hands
 * to vfio_compat.c, and the area cut behind type1 v1's partial unmap.  One
 * errno row per rule, in the kernel's check order, then the behaviour
 * behind the successes: what MAP_DMA/UNMAP_DMA leave in the IOAS and the
 * mock domain, the capability chain of GET_INFO, and that every failure
 * (fault injection included) leaves the invariants whole.
 */
#include "config.h"

#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"

#define X ((uint64_t)MOCK_APERTURE_START)
#define BUF_PAGES 16
#define ARG(v) ((void *)(uintptr_t)(v))

static size_t ps;
static char *buf;
static uint32_t ioas_id, stdev_id, hwpt_id;

/* ------------------------------------------------------------ helpers */

static int vfio_ioas(uint32_t op, uint32_t id, uint32_t *out)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.ioas_id = id,
		.op = (uint16_t)op,
	};
	int rc = isim_ioctl(tfd, IOMMU_VFIO_IOAS, &cmd);

	if (out)
		*out = cmd.ioas_id;
	return rc;
}

static int map_dma(uint64_t iova, const void *va, uint64_t len)
{
	struct vfio_iommu_type1_dma_map cmd = {
		.argsz = sizeof(cmd),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = len,
	};

	return isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd);
}

/* *out gets the size written back (the input size if none was). */
static int unmap_dma(uint32_t flags, uint64_t iova, uint64_t len,
		     uint64_t *out)
{
	struct vfio_iommu_type1_dma_unmap cmd = {
		.argsz = sizeof(cmd),
		.flags = flags,
		.iova = iova,
		.size = len,
	};
	int rc = isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd);

	if (out)
		*out = cmd.size;
	return rc;
}

static int huge_pages_option(uint32_t ioas, uint64_t *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_GET,
		.object_id = ioas,
	};
	int rc = isim_ioctl(tfd, IOMMU_OPTION, &cmd);

	*val = cmd.val64;
	return rc;
}

static struct iommufd_ctx *ctx(void)
{
	return &tfd->ictx;
}

/* The areas of @ioas as [first, last] pairs; returns how many. */
static unsigned areas(uint32_t ioas, uint64_t (*out)[2], unsigned max)
{
	struct iommufd_ioas *p = iommufd_get_ioas(ctx(), ioas);
	struct isim_itree_node *n;
	unsigned count = 0;

	ck_assert(!IS_ERR(p));
	pthread_rwlock_rdlock(&p->iopt.iova_rwsem);
	isim_itree_for_each(n, &p->iopt.area_itree) {
		if (out && count < max) {
			out[count][0] = n->start;
			out[count][1] = n->last;
		}
		count++;
	}
	pthread_rwlock_unlock(&p->iopt.iova_rwsem);
	iommufd_put_object(ctx(), &p->obj);
	return count;
}

/* ----------------------------------------------------------- fixtures */

static void base_setup(void)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
		.memory_limit = { .limit = 65536 },
	};

	machine_setup();
	ps = isim_machine_page_size(tm);
	ck_assert_int_eq(isim_mem_alloc(tm, BUF_PAGES * ps, ISIM_BACKING_4K,
					(void **)&buf), 0);
	memset(buf, 0, BUF_PAGES * ps);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas_id), 0);
	ck_assert_int_eq(test_cmd(tfd, &cmd), 0);
}

/* The upstream vfio_compat_mock_domain fixture, before SET_IOMMU. */
static void compat_setup(void)
{
	base_setup();
	ck_assert_int_eq(mock_domain(tfd, ioas_id, &stdev_id, &hwpt_id), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
}

static void v1_setup(void)
{
	compat_setup();
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1_IOMMU)), 0);
}

static void v2_setup(void)
{
	compat_setup();
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1v2_IOMMU)), 0);
}

static void teardown(void)
{
	char report[2048];

	assert_invariants(tm);
	isim_close(tfd);
	/* As the kselftest teardown: nothing is left pinned. */
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, BUF_PAGES * ps, 0), 0);
	isim_close(tfd);
	tfd = NULL;
	ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0, "%s",
		      report);
	ck_assert_int_eq(isim_mem_free(tm, buf), 0);
	isim_machine_free(tm);
	tm = NULL;
}

/* ------------------------------------------------- IOMMU_VFIO_IOAS (§8.11) */

START_TEST(vfio_ioas_rows)
{
	struct iommu_vfio_ioas cmd = { .size = sizeof(cmd) };
	uint32_t id = 0x5a5a, other;

	/* The dispatcher's rule: size below __reserved's end. */
	cmd.size = offsetof(struct iommu_vfio_ioas, __reserved);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VFIO_IOAS, &cmd), -EINVAL);
	cmd.size = sizeof(cmd);
	/* __reserved first, for every op. */
	cmd.__reserved = 1;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VFIO_IOAS, &cmd), -EOPNOTSUPP);
	cmd.op = IOMMU_VFIO_IOAS_SET;
	cmd.ioas_id = ioas_id;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VFIO_IOAS, &cmd), -EOPNOTSUPP);
	cmd.__reserved = 0;
	cmd.op = 3;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VFIO_IOAS, &cmd), -EOPNOTSUPP);

	/* GET without a compat IOAS; nothing written back. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, id, &id), -ENODEV);
	ck_assert_uint_eq(id, 0x5a5a);
	/* SET: the ID must be a live IOAS. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, 0, NULL), -ENOENT);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, 99, NULL), -ENOENT);
	ck_assert_int_eq(mock_domain(tfd, ioas_id, &stdev_id, &hwpt_id), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, hwpt_id, NULL),
			 -ENOENT);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL), -ENODEV);
	/* SET does not write back. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, &id), 0);
	ck_assert_uint_eq(id, ioas_id);
	id = 0;
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, &id), 0);
	ck_assert_uint_eq(id, ioas_id);
	/* SET replaces; CLEAR forgets. */
	ck_assert_int_eq(ioas_alloc(tfd, &other), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, other, NULL), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, &id), 0);
	ck_assert_uint_eq(id, other);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_CLEAR, 77, &id), 0);
	ck_assert_uint_eq(id, 77);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL), -ENODEV);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_CLEAR, 0, NULL), 0);
	/* Destroying the compat IOAS clears the pointer. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, other, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, other), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL), -ENODEV);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA,
				    &(struct vfio_iommu_type1_dma_map){
					    .argsz = 32, .size = ps,
					    .vaddr = (uintptr_t)buf }),
			 -ENODEV);
	/* The pointer holds no reference: a compat IOAS can be destroyed. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, ioas_id), -EBUSY);	/* the HWPT */
	ck_assert_int_eq(obj_destroy(tfd, stdev_id), 0);
	ck_assert_int_eq(obj_destroy(tfd, ioas_id), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL), -ENODEV);
}
END_TEST

/* What VFIO does when a group joins the container. */
START_TEST(compat_ioas_create)
{
	uint32_t id, first;

	ck_assert_int_eq(iommufd_vfio_compat_ioas_get_id(ctx(), &id), -ENODEV);
	ck_assert_int_eq(iommufd_vfio_compat_ioas_create(ctx()), 0);
	ck_assert_int_eq(iommufd_vfio_compat_ioas_get_id(ctx(), &first), 0);
	ck_assert_uint_ne(first, ioas_id);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, &id), 0);
	ck_assert_uint_eq(id, first);
	/* A live one is kept, and the spare IOAS leaves no ID behind. */
	ck_assert_int_eq(iommufd_vfio_compat_ioas_create(ctx()), 0);
	ck_assert_int_eq(iommufd_vfio_compat_ioas_get_id(ctx(), &id), 0);
	ck_assert_uint_eq(id, first);
	ck_assert_int_eq(ioas_alloc(tfd, &id), 0);
	ck_assert_uint_eq(id, first + 1);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	/* It is an ordinary IOAS: usable and destroyable by ID. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1v2_IOMMU)), 0);
	ck_assert_int_eq(map_dma(X, buf, ps), 0);
	ck_assert_int_eq(obj_destroy(tfd, first), 0);
	ck_assert_int_eq(iommufd_vfio_compat_ioas_get_id(ctx(), &id), -ENODEV);
	/* Gone: the next one is new (its ID the lowest free one again). */
	ck_assert_int_eq(iommufd_vfio_compat_ioas_create(ctx()), 0);
	ck_assert_int_eq(iommufd_vfio_compat_ioas_get_id(ctx(), &id), 0);
	ck_assert_uint_eq(id, first);
	/* Empty: X is free again. */
	ck_assert_int_eq(map_dma(X, buf, ps), 0);
	/* Every allocation failure is reported and leaves nothing. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_CLEAR, 0, NULL), 0);
	for (unsigned n = 1;; n++) {
		int rc;

		ck_assert_uint_lt(n, 50);
		isim_fail_nth_set(n);
		rc = iommufd_vfio_compat_ioas_create(ctx());
		isim_fail_nth_set(0);
		assert_invariants(tm);
		if (!rc)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL),
				 -ENODEV);
	}
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_GET, 0, NULL), 0);
}
END_TEST

/* ------------------------------------------------ dispatch and the numbers */

START_TEST(container_numbers)
{
	/* Integer arguments travel as the raw ioctl argument. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_GET_API_VERSION, NULL),
			 VFIO_API_VERSION);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_GET_API_VERSION, ARG(123)),
			 VFIO_API_VERSION);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_TYPE1_IOMMU)), 1);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_TYPE1v2_IOMMU)), 1);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_UNMAP_ALL)), 1);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_NOIOMMU_IOMMU)), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_UPDATE_VADDR)), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION, ARG(6)), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_SPAPR_TCE_IOMMU)), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION, ARG(~0ul)), 0);
	/* DMA_CC_IOMMU asks the compat IOAS. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_DMA_CC_IOMMU)), -ENODEV);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_DMA_CC_IOMMU)), 1);
	ck_assert_int_eq(mock_domain(tfd, ioas_id, &stdev_id, &hwpt_id), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_CHECK_EXTENSION,
				    ARG(VFIO_DMA_CC_IOMMU)), 0);

	/* No such ioctl: ENOTTY, whatever the argument. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_DIRTY_PAGES, buf), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(VFIO_TYPE, VFIO_BASE + 3), NULL),
			 -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO('V', VFIO_BASE), NULL), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IOR(VFIO_TYPE, VFIO_BASE, int),
				    NULL), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0x7f), NULL),
			 -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0), NULL), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0xff), NULL),
			 -ENOTTY);
	/* The kernel sees a 32-bit number. */
	ck_assert_int_eq(isim_ioctl(tfd, (1ul << 32) | VFIO_GET_API_VERSION,
				    NULL), VFIO_API_VERSION);
}
END_TEST

START_TEST(set_iommu_rows)
{
	uint64_t val;

	/* The type is checked first, then the compat IOAS. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU, ARG(0)), -EINVAL);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_SPAPR_TCE_IOMMU)), -EINVAL);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_NOIOMMU_IOMMU)), -EINVAL);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1v2_IOMMU)), -ENODEV);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1_IOMMU)), -ENODEV);

	/* v2 leaves large pages on; v1 turns them off. */
	ck_assert_int_eq(mock_domain(tfd, ioas_id, &stdev_id, &hwpt_id), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1v2_IOMMU)), 0);
	ck_assert_int_eq(huge_pages_option(ioas_id, &val), 0);
	ck_assert_uint_eq(val, 1);
	/* v1 with a domain and a mapping: too late to turn them off. */
	ck_assert_int_eq(map_dma(X, buf, ps), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1_IOMMU)), -EINVAL);
	ck_assert_int_eq(huge_pages_option(ioas_id, &val), 0);
	ck_assert_uint_eq(val, 1);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, NULL), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1_IOMMU)), 0);
	ck_assert_int_eq(huge_pages_option(ioas_id, &val), 0);
	ck_assert_uint_eq(val, 0);
	/* Again: already off is success, even with mappings. */
	ck_assert_int_eq(map_dma(X, buf, ps), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1_IOMMU)), 0);
	/* v2 afterwards does not turn them back on. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(VFIO_TYPE1v2_IOMMU)), 0);
	ck_assert_int_eq(huge_pages_option(ioas_id, &val), 0);
	ck_assert_uint_eq(val, 0);
}
END_TEST

/* ---------------------------------------------------------- MAP_DMA */

START_TEST(map_dma_rows)
{
	struct vfio_iommu_type1_dma_map cmd = {
		.argsz = 1,
		.iova = X,
		.size = ps,
		.vaddr = (uintptr_t)buf,
	};

	/* Unreadable argument first. */
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, NULL), -EFAULT);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.argsz = offsetof(struct vfio_iommu_type1_dma_map, size) + 7;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.argsz = sizeof(cmd);
	cmd.flags = 1u << 31;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.flags = VFIO_DMA_MAP_FLAG_VADDR;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -ENODEV);

	ck_assert_int_eq(mock_domain(tfd, ioas_id, &stdev_id, &hwpt_id), 0);
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	/* Always at the fixed IOVA, with the IOAS rules behind it. */
	cmd.iova = 0;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.iova = X;
	cmd.size = 0;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.size = ps;
	cmd.iova = X + 1;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EINVAL);
	cmd.iova = X;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), -EEXIST);
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X, ps, buf), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, ps, 1), 0);
	/* A larger argsz is fine; the struct is not written back. */
	cmd.argsz = 4096;
	cmd.iova = X + ps;
	cmd.vaddr = (uintptr_t)(buf + ps);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), 0);
	ck_assert_uint_eq(cmd.iova, X + ps);
	/* Read-only is allowed; no flag at all too (no access). */
	cmd.argsz = sizeof(cmd);
	cmd.flags = VFIO_DMA_MAP_FLAG_READ;
	cmd.iova = X + 2 * ps;
	cmd.vaddr = (uintptr_t)(buf + 2 * ps);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), 0);
	cmd.flags = 0;
	cmd.iova = X + 3 * ps;
	cmd.vaddr = (uintptr_t)(buf + 3 * ps);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_MAP_DMA, &cmd), 0);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 4);
}
END_TEST

/* -------------------------------------------------------- UNMAP_DMA */

START_TEST(unmap_dma_rows)
{
	struct vfio_iommu_type1_dma_unmap cmd = {
		.argsz = 1,
		.iova = X,
		.size = ps,
	};
	uint64_t out;

	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, NULL), -EFAULT);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -EINVAL);
	cmd.argsz = sizeof(cmd);
	cmd.flags = 1u << 31;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -EINVAL);
	cmd.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -EINVAL);
	cmd.flags = VFIO_DMA_UNMAP_FLAG_VADDR;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -EINVAL);
	cmd.flags = 0;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -ENODEV);
	cmd.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, &cmd), -ENODEV);

	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	/* UNMAP_ALL needs iova and size 0; no write-back on that error. */
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, X, 0, &out),
			 -EINVAL);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, ps, &out),
			 -EINVAL);
	ck_assert_uint_eq(out, ps);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &out), 0);
	ck_assert_uint_eq(out, 0);
	/* An empty range succeeds with size 0 (6.12 selftest). */
	ck_assert_int_eq(unmap_dma(0, X, ps, &out), 0);
	ck_assert_uint_eq(out, 0);
	/* Size 0 without UNMAP_ALL, and a wrapping range. */
	ck_assert_int_eq(unmap_dma(0, X, 0, &out), -EINVAL);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(unmap_dma(0, UINT64_MAX, 2, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, 0);

	/* Without a domain nothing is pinned: any address maps. */
	ck_assert_int_eq(map_dma(X, ARG(0x100000), 2 * ps), 0);
	ck_assert_int_eq(map_dma(X + 2 * ps, ARG(0x300000), ps), 0);
	/* Front partial overlap: ENOENT, nothing unmapped, size 0 back. */
	ck_assert_int_eq(unmap_dma(0, X + ps, 2 * ps, &out), -ENOENT);
	ck_assert_uint_eq(out, 0);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 2);
	/* Back partial overlap: the whole areas before go, size says so. */
	ck_assert_int_eq(unmap_dma(0, X, 3 * ps - 1, &out), -ENOENT);
	ck_assert_uint_eq(out, 2 * ps);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 1);
	/* A range with holes is fine; size counts what was mapped. */
	ck_assert_int_eq(unmap_dma(0, 0, UINT64_MAX, &out), 0);
	ck_assert_uint_eq(out, ps);
	/* UNMAP_ALL reports the total. */
	ck_assert_int_eq(map_dma(X, ARG(0x100000), 2 * ps), 0);
	ck_assert_int_eq(map_dma(X + 4 * ps, ARG(0x300000), ps), 0);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &out), 0);
	ck_assert_uint_eq(out, 3 * ps);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 0);
}
END_TEST

/* The reply is the first 24 bytes; argsz and flags go back unchanged. */
START_TEST(unmap_dma_reply)
{
	struct vfio_iommu_type1_dma_unmap cmd = {
		.argsz = sizeof(cmd) + 16, .iova = X, .size = 2 * ps,
	};
	/* The struct and 16 more bytes, which must come back untouched. */
	_Alignas(8) uint8_t arg[sizeof(cmd) + 16];

	memcpy(arg, &cmd, sizeof(cmd));
	memset(arg + sizeof(cmd), 0xAA, 16);
	ck_assert_int_eq(map_dma(X, buf, 2 * ps), 0);
	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_UNMAP_DMA, arg), 0);
	memcpy(&cmd, arg, sizeof(cmd));
	ck_assert_uint_eq(cmd.argsz, sizeof(arg));
	ck_assert_uint_eq(cmd.flags, 0);
	ck_assert_uint_eq(cmd.iova, X);
	ck_assert_uint_eq(cmd.size, 2 * ps);
	for (size_t i = sizeof(cmd); i < sizeof(arg); i++)
		ck_assert_uint_eq(arg[i], 0xAA);
	ck_assert_int_eq(md_check_refs(tfd, buf, 2 * ps, 0), 0);
}
END_TEST

/* Type1 v2 never splits: the kselftest huge_map rows. */
START_TEST(v2_no_split)
{
	uint64_t out;

	ck_assert_int_eq(map_dma(X, buf, 4 * ps), 0);
	ck_assert_int_eq(unmap_dma(0, X, ps, &out), -ENOENT);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(unmap_dma(0, X + ps, ps, &out), -ENOENT);
	ck_assert_int_eq(unmap_dma(0, X + 3 * ps, ps, &out), -ENOENT);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 1);
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X, 4 * ps, buf), 0);
	ck_assert_int_eq(unmap_dma(0, X, 4 * ps, &out), 0);
	ck_assert_uint_eq(out, 4 * ps);
}
END_TEST

/* Type1 v1 cuts the areas at both ends of the range (§4.13). */
START_TEST(v1_split)
{
	uint64_t a[4][2], out;

	ck_assert_int_eq(map_dma(X, buf, 8 * ps), 0);
	/* A hole in the middle. */
	ck_assert_int_eq(unmap_dma(0, X + 2 * ps, 3 * ps, &out), 0);
	ck_assert_uint_eq(out, 3 * ps);
	ck_assert_uint_eq(areas(ioas_id, a, 4), 2);
	ck_assert_uint_eq(a[0][0], X);
	ck_assert_uint_eq(a[0][1], X + 2 * ps - 1);
	ck_assert_uint_eq(a[1][0], X + 5 * ps);
	ck_assert_uint_eq(a[1][1], X + 8 * ps - 1);
	/* The rest still maps the same bytes, and only they are pinned. */
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X, 2 * ps, buf), 0);
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X + 5 * ps, 3 * ps,
				      buf + 5 * ps),
			 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, 2 * ps, 1), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf + 2 * ps, 3 * ps, 0), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf + 5 * ps, 3 * ps, 1), 0);
	assert_invariants(tm);
	/* The first page and the last page (a cut at IOVA - 1 only). */
	ck_assert_int_eq(unmap_dma(0, X, ps, &out), 0);
	ck_assert_int_eq(unmap_dma(0, X + 7 * ps, ps, &out), 0);
	ck_assert_uint_eq(areas(ioas_id, a, 4), 2);
	ck_assert_uint_eq(a[0][0], X + ps);
	ck_assert_uint_eq(a[0][1], X + 2 * ps - 1);
	ck_assert_uint_eq(a[1][0], X + 5 * ps);
	ck_assert_uint_eq(a[1][1], X + 7 * ps - 1);
	/* A range spanning a hole and parts of two areas. */
	ck_assert_int_eq(unmap_dma(0, X + ps, 5 * ps, &out), 0);
	ck_assert_uint_eq(out, 2 * ps);
	ck_assert_uint_eq(areas(ioas_id, a, 4), 1);
	ck_assert_uint_eq(a[0][0], X + 6 * ps);
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X + 6 * ps, ps,
				      buf + 6 * ps),
			 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, 6 * ps, 0), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf + 6 * ps, ps, 1), 0);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &out), 0);
	ck_assert_uint_eq(out, ps);
}
END_TEST

/* Cut errors: EINVAL (alignment, pins) and EBUSY; not transactional. */
START_TEST(v1_cut_rows)
{
	struct iommu_test_cmd acc = {
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas_id,
		.create_access = { .flags = MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES },
	};
	struct iommufd_ioas *p;
	struct iopt_area *area;
	uint64_t a[4][2], out = 0x77;
	int fd;

	ck_assert_int_eq(map_dma(X, buf, 4 * ps), 0);
	/* Not page aligned: the end cut is made, then the start cut fails. */
	ck_assert_int_eq(unmap_dma(0, X + ps / 2, ps / 2, &out), -EINVAL);
	ck_assert_uint_eq(out, ps / 2);	/* no write-back */
	ck_assert_uint_eq(areas(ioas_id, a, 4), 2);
	ck_assert_uint_eq(a[0][1], X + ps - 1);
	ck_assert_int_eq(unmap_dma(0, X + ps, ps / 2, &out), -EINVAL);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 2);
	ck_assert_int_eq(md_check_map(tfd, hwpt_id, X, 4 * ps, buf), 0);
	assert_invariants(tm);

	/* An area under an access pin cannot be cut. */
	ck_assert_int_eq(test_cmd(tfd, &acc), 0);
	fd = (int)acc.create_access.out_access_fd;
	{
		struct iommu_test_cmd pin = {
			.op = IOMMU_TEST_OP_ACCESS_PAGES,
			.id = (uint32_t)fd,
			.access_pages = { .iova = X + 2 * ps, .length = ps,
					  .uptr = (uintptr_t)(buf + 2 * ps) },
		};

		ck_assert_int_eq(test_cmd(tfd, &pin), 0);
	}
	ck_assert_int_eq(unmap_dma(0, X + 2 * ps, ps, &out), -EINVAL);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 2);
	/* A cut elsewhere is fine. */
	ck_assert_int_eq(unmap_dma(0, X, ps, &out), 0);
	ck_assert_uint_eq(out, ps);
	/* Whole areas under a pin still unmap: the access is told. */
	ck_assert_int_eq(unmap_dma(0, X + ps, 3 * ps, &out), 0);
	ck_assert_uint_eq(out, 3 * ps);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);

	/* An area being unmapped (prevent_access) is EBUSY. */
	ck_assert_int_eq(map_dma(X, buf, 4 * ps), 0);
	p = iommufd_get_ioas(ctx(), ioas_id);
	ck_assert(!IS_ERR(p));
	area = iopt_area_iter_first(&p->iopt, X, X);
	area->prevent_access = true;
	ck_assert_int_eq(unmap_dma(0, X + ps, ps, &out), -EBUSY);
	area->prevent_access = false;
	iommufd_put_object(ctx(), &p->obj);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 1);
	/* A wrapping range: the cuts find nothing, the unmap says so. */
	ck_assert_int_eq(unmap_dma(0, UINT64_MAX - ps + 1, 2 * ps, &out),
			 -EOVERFLOW);
	ck_assert_int_eq(unmap_dma(0, X, 4 * ps, &out), 0);
	ck_assert_uint_eq(out, 4 * ps);
}
END_TEST

/* iopt_cut_iova directly: large pages and domains (§4.13). */
START_TEST(cut_large_pages)
{
	struct iommufd_ioas *p;
	uint64_t cut, a[4][2];
	uint32_t plain;

	/* v2 (large pages on) with a domain: refused. */
	ck_assert_int_eq(map_dma(X, buf, 4 * ps), 0);
	p = iommufd_get_ioas(ctx(), ioas_id);
	cut = X + ps - 1;
	ck_assert_int_eq(iopt_cut_iova(&p->iopt, &cut, 1), -EINVAL);
	/* Cuts at an area's edges and outside any area are no-ops. */
	cut = X;
	ck_assert_int_eq(iopt_cut_iova(&p->iopt, &cut, 1), 0);
	cut = X + 4 * ps - 1;
	ck_assert_int_eq(iopt_cut_iova(&p->iopt, &cut, 1), 0);
	cut = X - 1;
	ck_assert_int_eq(iopt_cut_iova(&p->iopt, &cut, 1), 0);
	iommufd_put_object(ctx(), &p->obj);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 1);

	/* No domain: large pages do not matter, alignment is 1. */
	ck_assert_int_eq(ioas_alloc(tfd, &plain), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, plain, ARG(0x100000), 4 * ps, 0),
			 0);
	p = iommufd_get_ioas(ctx(), plain);
	cut = 100;
	ck_assert_int_eq(iopt_cut_iova(&p->iopt, &cut, 1), 0);
	iommufd_put_object(ctx(), &p->obj);
	ck_assert_uint_eq(areas(plain, a, 4), 2);
	ck_assert_uint_eq(a[0][1], 100);
	ck_assert_uint_eq(a[1][0], 101);
	ck_assert_uint_eq(a[1][1], 4 * ps - 1);
	assert_invariants(tm);
	/* The halves continue each other: COPY reads across the cut. */
	{
		struct iommu_ioas_copy copy = {
			.size = sizeof(copy),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE,
			.src_ioas_id = plain,
			.length = 4 * ps,
			.dst_iova = 0,
			.src_iova = 0,
		};
		uint32_t dst;

		ck_assert_int_eq(ioas_alloc(tfd, &dst), 0);
		copy.dst_ioas_id = dst;
		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_COPY, &copy), 0);
		ck_assert_uint_eq(areas(dst, a, 4), 2);
		ck_assert_uint_eq(a[0][1], 100);
		ck_assert_int_eq(obj_destroy(tfd, dst), 0);
	}
	/* Each half unmaps alone, as a whole area. */
	ck_assert_int_eq(ioas_unmap(tfd, plain, 0, 100, NULL), -ENOENT);
	ck_assert_int_eq(ioas_unmap(tfd, plain, 0, 101, NULL), 0);
	ck_assert_uint_eq(areas(plain, NULL, 0), 1);
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
}
END_TEST

/* The kselftest's map test, small pages, shuffled unmaps. */
START_TEST(small_pages_shuffled)
{
	static const unsigned order[BUF_PAGES] = { 7, 3, 12, 0, 15, 9, 1, 5,
						   14, 2, 11, 6, 13, 4, 10, 8 };
	uint64_t out;

	for (unsigned i = 0; i < BUF_PAGES; i++)
		ck_assert_int_eq(map_dma(X + i * ps, buf + i * ps, ps), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, BUF_PAGES * ps, 1), 0);
	for (unsigned i = 0; i < BUF_PAGES; i++) {
		ck_assert_int_eq(unmap_dma(0, X + order[i] * ps, ps, &out), 0);
		ck_assert_uint_eq(out, ps);
	}
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 0);
}
END_TEST

/* The kselftest's huge_map: a 2 MiB-backed mapping cut into 16 pieces. */
START_TEST(huge_map_cut)
{
	const uint64_t len = 4ull << 20, piece = len / 16;
	static const unsigned order[16] = { 5, 0, 15, 8, 3, 11, 1, 14,
					    6, 9, 2, 12, 7, 4, 13, 10 };
	bool v1 = _i == 1;
	uint64_t out;
	void *huge;

	ck_assert_int_eq(isim_ioctl(tfd, VFIO_SET_IOMMU,
				    ARG(v1 ? VFIO_TYPE1_IOMMU :
					     VFIO_TYPE1v2_IOMMU)), 0);
	ck_assert_int_eq(isim_mem_alloc(tm, len, ISIM_BACKING_HUGETLB_2M,
					&huge), 0);
	ck_assert_int_eq(map_dma(X, huge, len), 0);
	for (unsigned i = 0; i < 16; i++) {
		int rc = unmap_dma(0, X + order[i] * piece, piece, &out);

		if (v1) {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(out, piece);
		} else {
			ck_assert_int_eq(rc, -ENOENT);
		}
	}
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), v1 ? 0 : 1);
	assert_invariants(tm);
	ck_assert_int_eq(unmap_dma(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &out), 0);
	ck_assert_uint_eq(out, v1 ? 0 : len);
	ck_assert_int_eq(isim_mem_free(tm, huge), 0);
}
END_TEST

/* Every allocation of a cut fails once in turn; state stays whole. */
START_TEST(v1_cut_fail_nth)
{
	uint64_t out;
	unsigned n;

	ck_assert_int_eq(map_dma(X, buf, 8 * ps), 0);
	for (n = 1; n < 100; n++) {
		int rc;

		isim_fail_nth_set(n);
		rc = unmap_dma(0, X + 3 * ps, 2 * ps, &out);
		isim_fail_nth_set(0);
		assert_invariants(tm);
		if (!rc)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
		/* Whatever was cut is still mapped and pinned once. */
		ck_assert_int_eq(md_check_map(tfd, hwpt_id, X, 8 * ps, buf), 0);
		ck_assert_int_eq(md_check_refs(tfd, buf, 8 * ps, 1), 0);
	}
	ck_assert_uint_gt(n, 1);
	ck_assert_uint_lt(n, 100);
	ck_assert_uint_eq(out, 2 * ps);
	ck_assert_uint_eq(areas(ioas_id, NULL, 0), 2);
	ck_assert_int_eq(md_check_refs(tfd, buf + 3 * ps, 2 * ps, 0), 0);
}
END_TEST

/* ---------------------------------------------------------- GET_INFO */

static uint8_t ibuf[512];

static int get_info(uint32_t argsz)
{
	struct vfio_iommu_type1_info *info = (void *)ibuf;

	memset(ibuf, 0xAA, sizeof(ibuf));
	memset(info, 0, sizeof(*info) < argsz ? sizeof(*info) : argsz);
	info->argsz = argsz;
	return isim_ioctl(tfd, VFIO_IOMMU_GET_INFO, ibuf);
}

static bool filled_from(size_t from)
{
	for (size_t i = from; i < sizeof(ibuf); i++)
		if (ibuf[i] != 0xAA)
			return false;
	return true;
}

START_TEST(get_info_rows)
{
	struct vfio_iommu_type1_info *info = (void *)ibuf;

	ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_GET_INFO, NULL), -EFAULT);
	ck_assert_int_eq(get_info(1), -EINVAL);
	ck_assert_int_eq(get_info(15), -EINVAL);
	ck_assert_int_eq(get_info(sizeof(*info)), -ENODEV);
	ck_assert_uint_eq(info->argsz, sizeof(*info));

	/* A compat IOAS without a domain: one range, the whole space. */
	ck_assert_int_eq(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id, NULL), 0);
	ck_assert_int_eq(get_info(sizeof(ibuf)), 0);
	ck_assert_uint_eq(info->flags,
			  VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
	ck_assert_uint_eq(info->iova_pgsizes, ~(uint64_t)(ps - 1));
	ck_assert_uint_eq(info->cap_offset, sizeof(*info));
	ck_assert_uint_eq(info->argsz, 24 + 16 + 32);
	{
		struct vfio_iommu_type1_info_dma_avail *dma =
			(void *)(ibuf + 24);
		struct vfio_iommu_type1_info_cap_iova_range *r =
			(void *)(ibuf + 40);

		ck_assert_uint_eq(dma->header.id,
				  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
		ck_assert_uint_eq(dma->header.version, 1);
		ck_assert_uint_eq(dma->header.next, 40);
		ck_assert_uint_eq(dma->avail, UINT32_MAX);
		ck_assert_uint_eq(r->header.id,
				  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
		ck_assert_uint_eq(r->header.version, 1);
		ck_assert_uint_eq(r->header.next, 0);
		ck_assert_uint_eq(r->nr_iovas, 1);
		ck_assert_uint_eq(r->iova_ranges[0].start, 0);
		ck_assert_uint_eq(r->iova_ranges[0].end, UINT64_MAX);
	}
	/* The padding after dma_avail is never written. */
	ck_assert_uint_eq(ibuf[36], 0xAA);
	ck_assert(filled_from(72));
}
END_TEST

START_TEST(get_info_caps)
{
	struct vfio_iommu_type1_info *info = (void *)ibuf;
	struct iommu_test_cmd resv = {
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = ioas_id,
		.add_reserved = { .start = X + 16 * ps, .length = ps },
	};
	struct vfio_iommu_type1_info_cap_iova_range *r = (void *)(ibuf + 40);
	const uint32_t full = 24 + 16 + 16 + 2 * 16;

	ck_assert_int_eq(test_cmd(tfd, &resv), 0);
	/* The pre-capability ABI: 16 bytes in, 16 bytes out. */
	ck_assert_int_eq(get_info(16), 0);
	ck_assert_uint_eq(info->flags,
			  VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
	ck_assert_uint_eq(info->iova_pgsizes, ps);
	ck_assert_uint_eq(info->argsz, full);
	ck_assert(filled_from(16));
	/* The header alone: cap_offset 0, argsz says how much. */
	ck_assert_int_eq(get_info(24), 0);
	ck_assert_uint_eq(info->cap_offset, 0);
	ck_assert_uint_eq(info->argsz, full);
	ck_assert(filled_from(24));
	/* dma_avail fits: written, and linked to where the next would go. */
	ck_assert_int_eq(get_info(36), 0);
	ck_assert_uint_eq(info->cap_offset, 0);
	ck_assert_uint_eq(info->argsz, full);
	ck_assert(filled_from(36));
	ck_assert_int_eq(get_info(40), 0);
	ck_assert_uint_eq(*(uint32_t *)(ibuf + 24 + 4), 40);
	ck_assert(filled_from(40));
	/* The range cap header fits but not its array: nothing of it. */
	ck_assert_int_eq(get_info(56), 0);
	ck_assert_uint_eq(info->cap_offset, 0);
	ck_assert(filled_from(40));
	/* One of two ranges fits: that entry is written, no header. */
	ck_assert_int_eq(get_info(72), 0);
	ck_assert_uint_eq(info->cap_offset, 0);
	ck_assert(filled_from(72));
	ck_assert_uint_eq(r->iova_ranges[0].start, X);
	ck_assert_uint_eq(r->iova_ranges[0].end, X + 16 * ps - 1);
	ck_assert_uint_eq(ibuf[40], 0xAA);
	/* Exactly enough: the whole chain. */
	ck_assert_int_eq(get_info(full), 0);
	ck_assert_uint_eq(info->cap_offset, 24);
	ck_assert_uint_eq(info->argsz, full);
	ck_assert(filled_from(full));
	ck_assert_uint_eq(r->header.id, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
	ck_assert_uint_eq(r->nr_iovas, 2);
	ck_assert_uint_eq(r->iova_ranges[1].start, X + 17 * ps);
	ck_assert_uint_eq(r->iova_ranges[1].end, MOCK_APERTURE_LAST);
	/* Every size in between stays inside argsz. */
	for (uint32_t sz = 16; sz <= full + 8; sz++) {
		ck_assert_int_eq(get_info(sz), 0);
		ck_assert_msg(filled_from(sz), "argsz %u", sz);
		ck_assert_uint_eq(info->argsz, full);
		if (sz >= 24)
			ck_assert_uint_eq(info->cap_offset,
					  sz >= full ? 24 : 0);
	}
	/* The info fits but the capabilities run into a hole: EFAULT. */
	{
		char *two = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct vfio_iommu_type1_info *edge = (void *)(two + ps - 24);

		ck_assert(two != MAP_FAILED);
		ck_assert_int_eq(munmap(two + ps, ps), 0);
		memset(edge, 0, 24);
		edge->argsz = full;
		ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_GET_INFO, edge),
				 -EFAULT);
		/* Without room for any capability it succeeds. */
		edge->argsz = 24;
		ck_assert_int_eq(isim_ioctl(tfd, VFIO_IOMMU_GET_INFO, edge), 0);
		ck_assert_uint_eq(edge->argsz, full);
		ck_assert_int_eq(munmap(two, ps), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio_compat");
	TCase *base = tcase_create("no_compat");
	TCase *v1 = tcase_create("type1");
	TCase *v2 = tcase_create("type1v2");
	TCase *cmp = tcase_create("compat_no_set_iommu");

	tcase_add_checked_fixture(base, base_setup, teardown);
	tcase_add_test(base, vfio_ioas_rows);
	tcase_add_test(base, compat_ioas_create);
	tcase_add_test(base, container_numbers);
	tcase_add_test(base, set_iommu_rows);
	tcase_add_test(base, map_dma_rows);
	tcase_add_test(base, unmap_dma_rows);
	tcase_add_test(base, get_info_rows);
	suite_add_tcase(s, base);

	tcase_add_checked_fixture(v2, v2_setup, teardown);
	tcase_add_test(v2, unmap_dma_reply);
	tcase_add_test(v2, v2_no_split);
	tcase_add_test(v2, cut_large_pages);
	tcase_add_test(v2, small_pages_shuffled);
	tcase_add_test(v2, get_info_caps);
	suite_add_tcase(s, v2);

	tcase_add_checked_fixture(v1, v1_setup, teardown);
	tcase_add_test(v1, v1_split);
	tcase_add_test(v1, v1_cut_rows);
	tcase_add_test(v1, small_pages_shuffled);
	tcase_add_test(v1, v1_cut_fail_nth);
	tcase_add_test(v1, get_info_caps);
	suite_add_tcase(s, v1);

	/* _i = 0: type1v2 (set in the test), 1: type1. */
	tcase_add_checked_fixture(cmp, compat_setup, teardown);
	tcase_add_loop_test(cmp, huge_map_cut, 0, 2);
	suite_add_tcase(s, cmp);

	return run_suite(s);
}
