/*
 * Structure-aware stream fuzzer over every iommufd ioctl and the selftest
 * ops behind IOMMU_TEST_CMD.  Each step takes an ioctl from the input, its
 * struct bytes from the input too, and then repairs what would otherwise
 * make nearly every call bounce: object IDs are mostly drawn from the IDs
 * earlier calls returned, flag and type words mostly from the values the
 * mock IOMMU takes (so nest parents, nested HWPTs, vIOMMUs, vDEVICEs,
 * vEVENTQs and mock HW queues do get made), queue IOVAs from IOVAs that
 * were mapped, and every user pointer is aimed at memory of the harness
 * with a length it can hold, so a finding is the simulator's and not a
 * wild write.  Now and then a step runs with one injected failure
 * (isim_fail_nth_set).  Unlike ioas-fuzzer nothing is predicted: after
 * every step isim_check() must hold, and at the end the context is
 * closed, checked once more and the machine freed, leaving ASan's leak
 * check to find anything the simulator lost.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "tests/fuzz/fuzz.h"

#define PS		4096ull
#define BUF_SIZE	(32 * PS)
#define SCRATCH		4096
#define MAX_IDS		64
#define MAX_FDS		16
#define MAX_IOVAS	32
#define MAX_OPS		128
#define NDEV		2

static struct world {
	struct isim_machine *m;
	struct isim_fd *fd;
	struct isim_device *dev[NDEV];
	uint8_t *buf;		/* program memory that MAP may name */
	uint32_t ids[MAX_IDS];	/* every ID a call handed out */
	size_t nids;
	int fds[MAX_FDS];	/* event, fault and access fds */
	size_t nfds;
	uint64_t iovas[MAX_IOVAS];	/* IOVAs that got mapped */
	size_t niovas;
	unsigned step;
} w;

static union {
	uint8_t b[SCRATCH];
	uint64_t align;
} scratch;

/* A memfd for IOAS_MAP_FILE, made once: the simulator dups what it maps. */
static int memfd = -1;

/* ------------------------------------------------------------ choosing */

static void add_id(uint32_t id)
{
	if (id && w.nids < MAX_IDS)
		w.ids[w.nids++] = id;
}

static void add_fd(int fd)
{
	if (w.nfds < MAX_FDS)
		w.fds[w.nfds++] = fd;
}

static void add_iova(uint64_t iova)
{
	if (w.niovas < MAX_IOVAS)
		w.iovas[w.niovas++] = iova;
}

/* An ID some call returned, mostly; else whatever the input says. */
static uint32_t id_arg(struct fuzz_in *in)
{
	uint8_t v = fuzz_u8(in);

	if (v < 0xf0 && w.nids)
		return w.ids[v % w.nids];
	return v & 1 ? fuzz_u32(in) : 0;
}

static int fd_arg(struct fuzz_in *in)
{
	uint8_t v = fuzz_u8(in);

	return v < 0xf0 && w.nfds ? w.fds[v % w.nfds] : (int)(int8_t)v;
}

/* One of @n likely values, or (rarely) the raw input. */
static uint32_t pick(struct fuzz_in *in, const uint32_t *vals, size_t n)
{
	uint8_t v = fuzz_u8(in);

	return v < 0xf0 ? vals[v % n] : fuzz_u32(in);
}

/* A mapped IOVA plus a page offset, syzkaller style, or a raw one. */
static uint64_t iova_arg(struct fuzz_in *in)
{
	uint8_t v = fuzz_u8(in);

	if (v < 0xe0 && w.niovas)
		return w.iovas[v % w.niovas] + (fuzz_u8(in) % 8) * PS;
	return fuzz_u64(in);
}

/* A length that fits in @room, or one of the lengths that fail early. */
static uint64_t len_arg(struct fuzz_in *in, uint64_t room)
{
	uint8_t v = fuzz_u8(in);

	if (v >= 0xf8)
		return v & 1 ? UINT64_MAX : 0;
	if (v & 1)
		return 1 + fuzz_u16(in) % room;
	return (1 + fuzz_u8(in) % (room / PS)) * PS;
}

/* User memory of the harness: a span of w.buf, whose length is in *len. */
static uint64_t buf_arg(struct fuzz_in *in, uint64_t *len)
{
	uint64_t off = fuzz_u8(in) & 0x80 ? fuzz_u16(in) % BUF_SIZE :
					    fuzz_u8(in) % 32 * PS;

	*len = len_arg(in, BUF_SIZE - off);
	if (*len != UINT64_MAX && *len > BUF_SIZE - off)
		*len = BUF_SIZE - off;
	return (uintptr_t)w.buf + off;
}

/* Scratch filled from the input; the pointer to pass as a user pointer. */
static uint64_t scratch_arg(struct fuzz_in *in, size_t len)
{
	fuzz_fill(in, scratch.b, len < SCRATCH ? len : SCRATCH);
	return (uintptr_t)scratch.b;
}

/* ------------------------------------------------- per-ioctl repairs */

static void fix_map(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_map *c = arg;
	uint64_t len;

	c->ioas_id = id_arg(in);
	c->flags &= fuzz_u8(in) < 0xf0 ? 7 : ~0u;
	c->user_va = buf_arg(in, &len);
	c->length = len;
	if (c->flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		c->iova = iova_arg(in);
}

static void fix_map_file(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_map_file *c = arg;

	c->ioas_id = id_arg(in);
	c->flags &= fuzz_u8(in) < 0xf0 ? 7 : ~0u;
	c->fd = fuzz_u8(in) < 0xf0 ? memfd : -1;
	c->start = fuzz_u8(in) % 32 * PS;
	c->length = len_arg(in, BUF_SIZE - c->start);
	if (c->flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		c->iova = iova_arg(in);
}

static void fix_copy(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_copy *c = arg;

	c->dst_ioas_id = id_arg(in);
	c->src_ioas_id = id_arg(in);
	c->flags &= fuzz_u8(in) < 0xf0 ? 7 : ~0u;
	c->src_iova = iova_arg(in);
	c->length = len_arg(in, BUF_SIZE);
	if (c->flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		c->dst_iova = iova_arg(in);
}

static void fix_unmap(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_unmap *c = arg;

	c->ioas_id = id_arg(in);
	if (fuzz_u8(in) < 0x20) {
		c->iova = 0;
		c->length = UINT64_MAX;
		return;
	}
	c->iova = iova_arg(in);
	c->length = len_arg(in, BUF_SIZE);
}

static void fix_ranges(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_iova_ranges *c = arg;

	c->ioas_id = id_arg(in);
	c->num_iovas %= SCRATCH / sizeof(struct iommu_iova_range);
	c->allowed_iovas = (uintptr_t)scratch.b;
}

static void fix_allow(struct fuzz_in *in, void *arg)
{
	struct iommu_ioas_allow_iovas *c = arg;
	struct iommu_iova_range *r = (void *)scratch.b;

	c->ioas_id = id_arg(in);
	c->num_iovas %= 4;
	for (uint32_t i = 0; i < c->num_iovas; i++) {
		r[i].start = iova_arg(in);
		r[i].last = r[i].start + len_arg(in, BUF_SIZE);
	}
	c->allowed_iovas = (uintptr_t)r;
}

static void fix_option(struct fuzz_in *in, void *arg)
{
	static const uint32_t opt[] = {
		IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_HUGE_PAGES,
	};
	struct iommu_option *c = arg;

	c->option_id = pick(in, opt, 2);
	c->op = fuzz_u8(in) % 3;
	c->object_id = c->option_id == IOMMU_OPTION_HUGE_PAGES ? id_arg(in) :
								 0;
	c->val64 %= 3;
}

static void fix_vfio_ioas(struct fuzz_in *in, void *arg)
{
	struct iommu_vfio_ioas *c = arg;

	c->ioas_id = id_arg(in);
	c->op %= 4;
}

static void fix_hwpt_alloc(struct fuzz_in *in, void *arg)
{
	static const uint32_t flags[] = {
		0, IOMMU_HWPT_ALLOC_NEST_PARENT,
		IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_FAULT_ID_VALID,
		IOMMU_HWPT_ALLOC_PASID,
	};
	static const uint32_t types[] = {
		IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_SELFTEST,
	};
	struct iommu_hwpt_alloc *c = arg;

	c->flags = pick(in, flags, 5);
	c->dev_id = id_arg(in);
	c->pt_id = id_arg(in);
	c->fault_id = id_arg(in);
	c->data_type = pick(in, types, 2);
	c->data_len %= 64;
	c->data_uptr = scratch_arg(in, c->data_len);
}

static void fix_hw_info(struct fuzz_in *in, void *arg)
{
	struct iommu_hw_info *c = arg;

	c->dev_id = id_arg(in);
	c->data_len %= SCRATCH;
	c->data_uptr = (uintptr_t)scratch.b;
	c->flags &= fuzz_u8(in) < 0xf0 ? 1 : ~0u;
}

static void fix_dirty(struct fuzz_in *in, void *arg)
{
	struct iommu_hwpt_set_dirty_tracking *c = arg;

	c->hwpt_id = id_arg(in);
	c->flags &= fuzz_u8(in) < 0xf0 ? 1 : ~0u;
}

/* The bitmap is written for length / page_size bits: keep it in scratch. */
static void fix_bitmap(struct fuzz_in *in, void *arg)
{
	struct iommu_hwpt_get_dirty_bitmap *c = arg;
	static const uint32_t pgsz[] = { PS, PS / 2, 2 * PS };

	c->hwpt_id = id_arg(in);
	c->iova = iova_arg(in);
	c->page_size = pick(in, pgsz, 3);
	c->length = len_arg(in, BUF_SIZE);
	if (c->page_size && c->length != UINT64_MAX &&
	    c->length / c->page_size / 8 >= SCRATCH - 16)
		c->length = c->page_size;
	c->data = (uintptr_t)scratch.b;
}

static void fix_invalidate(struct fuzz_in *in, void *arg)
{
	static const uint32_t types[] = {
		IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
		IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
		IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
	};
	struct iommu_hwpt_invalidate *c = arg;

	c->hwpt_id = id_arg(in);
	c->data_type = pick(in, types, 3);
	c->entry_len %= 32;
	c->entry_num %= 8;
	c->data_uptr = scratch_arg(in, (size_t)c->entry_len * c->entry_num);
}

static void fix_viommu(struct fuzz_in *in, void *arg)
{
	static const uint32_t types[] = { IOMMU_VIOMMU_TYPE_SELFTEST, 0 };
	struct iommu_viommu_alloc *c = arg;

	c->type = pick(in, types, 2);
	c->dev_id = id_arg(in);
	c->hwpt_id = id_arg(in);
	c->data_len %= sizeof(struct iommu_viommu_selftest) + 8;
	c->data_uptr = scratch_arg(in, c->data_len);
}

static void fix_vdevice(struct fuzz_in *in, void *arg)
{
	struct iommu_vdevice_alloc *c = arg;

	c->viommu_id = id_arg(in);
	c->dev_id = id_arg(in);
	c->virt_id %= fuzz_u8(in) < 0xf0 ? 8 : UINT64_MAX;
}

static void fix_veventq(struct fuzz_in *in, void *arg)
{
	static const uint32_t types[] = { IOMMU_VEVENTQ_TYPE_SELFTEST, 0 };
	struct iommu_veventq_alloc *c = arg;

	c->viommu_id = id_arg(in);
	c->type = pick(in, types, 2);
	c->veventq_depth %= fuzz_u8(in) < 0xf0 ? 8 : UINT32_MAX;
}

static void fix_hw_queue(struct fuzz_in *in, void *arg)
{
	static const uint32_t types[] = { IOMMU_HW_QUEUE_TYPE_SELFTEST, 0 };
	struct iommu_hw_queue_alloc *c = arg;

	c->viommu_id = id_arg(in);
	c->type = pick(in, types, 2);
	c->index %= 3;
	c->nesting_parent_iova = iova_arg(in);
	c->length = len_arg(in, 4 * PS);
}

static void fix_destroy(struct fuzz_in *in, void *arg)
{
	((struct iommu_destroy *)arg)->id = id_arg(in);
}

/* ------------------------------------------------- selftest ops */

static void fix_test(struct fuzz_in *in, void *arg)
{
	static const uint32_t ops[] = {
		IOMMU_TEST_OP_ADD_RESERVED, IOMMU_TEST_OP_MOCK_DOMAIN,
		IOMMU_TEST_OP_MD_CHECK_MAP, IOMMU_TEST_OP_MD_CHECK_REFS,
		IOMMU_TEST_OP_CREATE_ACCESS, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
		IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW,
		IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
		IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_DIRTY,
		IOMMU_TEST_OP_MD_CHECK_IOTLB, IOMMU_TEST_OP_TRIGGER_IOPF,
		IOMMU_TEST_OP_DEV_CHECK_CACHE, IOMMU_TEST_OP_TRIGGER_VEVENT,
		IOMMU_TEST_OP_PASID_ATTACH, IOMMU_TEST_OP_PASID_REPLACE,
		IOMMU_TEST_OP_PASID_DETACH, IOMMU_TEST_OP_PASID_CHECK_HWPT,
	};
	struct iommu_test_cmd *c = arg;
	uint64_t len;

	c->op = pick(in, ops, sizeof(ops) / sizeof(ops[0]));
	switch (c->op) {
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		c->id = (uint32_t)fd_arg(in);
		c->access_replace_ioas.ioas_id = id_arg(in);
		return;
	case IOMMU_TEST_OP_ACCESS_PAGES:
		c->id = (uint32_t)fd_arg(in);
		c->access_pages.iova = iova_arg(in);
		c->access_pages.length = len_arg(in, 4 * PS);
		/* The comparison only reads: a span of the buffer or NULL. */
		c->access_pages.uptr = fuzz_u8(in) & 1 ? buf_arg(in, &len) : 0;
		return;
	case IOMMU_TEST_OP_ACCESS_RW:
		c->id = (uint32_t)fd_arg(in);
		c->access_rw.iova = iova_arg(in);
		c->access_rw.length %= SCRATCH;
		c->access_rw.uptr = (uintptr_t)scratch.b;
		return;
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		c->id = id_arg(in);
		c->check_map.iova = iova_arg(in);
		c->check_map.uptr = buf_arg(in, &len);
		c->check_map.length = len;
		return;
	case IOMMU_TEST_OP_CREATE_ACCESS:
		c->id = id_arg(in);
		c->create_access.flags &= fuzz_u8(in) < 0xf0 ? 1 : ~0u;
		return;
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		c->check_refs.uptr = buf_arg(in, &len);
		c->check_refs.length = len;
		return;
	case IOMMU_TEST_OP_DIRTY:
		c->id = id_arg(in);
		c->dirty.iova = iova_arg(in);
		c->dirty.page_size = PS;
		c->dirty.length = fuzz_u8(in) % 64 * PS;
		c->dirty.uptr = scratch_arg(in, 8);
		return;
	default:
		/* The rest name objects in id and in the union's first word. */
		c->id = id_arg(in);
		c->mock_domain_replace.pt_id = id_arg(in);
		c->mock_domain_flags.dev_flags &= 7;
		return;
	}
}

/* IDs and fds a selftest op hands out. */
static void harvest_test(const struct iommu_test_cmd *c)
{
	switch (c->op) {
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		add_id(c->mock_domain.out_stdev_id);
		add_id(c->mock_domain.out_hwpt_id);
		add_id(c->mock_domain.out_idev_id);
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		add_id(c->mock_domain_replace.pt_id);
		break;
	case IOMMU_TEST_OP_CREATE_ACCESS:
		add_fd((int)c->create_access.out_access_fd);
		break;
	}
}

/* ------------------------------------------------------- the table */

struct ioctl_desc {
	const char *name;
	unsigned long req;
	size_t size;
	void (*fix)(struct fuzz_in *in, void *arg);
	size_t out_id[2];	/* offsets of returned IDs; 0: none */
	size_t out_fd;		/* offset of a returned fd; 0: none */
};

#define OUT(type, field) offsetof(struct type, field)

static const struct ioctl_desc table[] = {
	{ "DESTROY", IOMMU_DESTROY, sizeof(struct iommu_destroy),
	  fix_destroy, { 0 }, 0 },
	{ "IOAS_ALLOC", IOMMU_IOAS_ALLOC, sizeof(struct iommu_ioas_alloc),
	  NULL, { OUT(iommu_ioas_alloc, out_ioas_id) }, 0 },
	{ "IOAS_IOVA_RANGES", IOMMU_IOAS_IOVA_RANGES,
	  sizeof(struct iommu_ioas_iova_ranges), fix_ranges, { 0 }, 0 },
	{ "IOAS_ALLOW_IOVAS", IOMMU_IOAS_ALLOW_IOVAS,
	  sizeof(struct iommu_ioas_allow_iovas), fix_allow, { 0 }, 0 },
	{ "IOAS_MAP", IOMMU_IOAS_MAP, sizeof(struct iommu_ioas_map), fix_map,
	  { 0 }, 0 },
	{ "IOAS_MAP_FILE", IOMMU_IOAS_MAP_FILE,
	  sizeof(struct iommu_ioas_map_file), fix_map_file, { 0 }, 0 },
	{ "IOAS_COPY", IOMMU_IOAS_COPY, sizeof(struct iommu_ioas_copy),
	  fix_copy, { 0 }, 0 },
	{ "IOAS_UNMAP", IOMMU_IOAS_UNMAP, sizeof(struct iommu_ioas_unmap),
	  fix_unmap, { 0 }, 0 },
	{ "OPTION", IOMMU_OPTION, sizeof(struct iommu_option), fix_option,
	  { 0 }, 0 },
	{ "VFIO_IOAS", IOMMU_VFIO_IOAS, sizeof(struct iommu_vfio_ioas),
	  fix_vfio_ioas, { 0 }, 0 },
	{ "HWPT_ALLOC", IOMMU_HWPT_ALLOC, sizeof(struct iommu_hwpt_alloc),
	  fix_hwpt_alloc, { OUT(iommu_hwpt_alloc, out_hwpt_id) }, 0 },
	{ "GET_HW_INFO", IOMMU_GET_HW_INFO, sizeof(struct iommu_hw_info),
	  fix_hw_info, { 0 }, 0 },
	{ "HWPT_SET_DIRTY_TRACKING", IOMMU_HWPT_SET_DIRTY_TRACKING,
	  sizeof(struct iommu_hwpt_set_dirty_tracking), fix_dirty, { 0 }, 0 },
	{ "HWPT_GET_DIRTY_BITMAP", IOMMU_HWPT_GET_DIRTY_BITMAP,
	  sizeof(struct iommu_hwpt_get_dirty_bitmap), fix_bitmap, { 0 }, 0 },
	{ "HWPT_INVALIDATE", IOMMU_HWPT_INVALIDATE,
	  sizeof(struct iommu_hwpt_invalidate), fix_invalidate, { 0 }, 0 },
	{ "FAULT_QUEUE_ALLOC", IOMMU_FAULT_QUEUE_ALLOC,
	  sizeof(struct iommu_fault_alloc), NULL,
	  { OUT(iommu_fault_alloc, out_fault_id) },
	  OUT(iommu_fault_alloc, out_fault_fd) },
	{ "VIOMMU_ALLOC", IOMMU_VIOMMU_ALLOC, sizeof(struct iommu_viommu_alloc),
	  fix_viommu, { OUT(iommu_viommu_alloc, out_viommu_id) }, 0 },
	{ "VDEVICE_ALLOC", IOMMU_VDEVICE_ALLOC,
	  sizeof(struct iommu_vdevice_alloc), fix_vdevice,
	  { OUT(iommu_vdevice_alloc, out_vdevice_id) }, 0 },
	{ "IOAS_CHANGE_PROCESS", IOMMU_IOAS_CHANGE_PROCESS,
	  sizeof(struct iommu_ioas_change_process), NULL, { 0 }, 0 },
	{ "VEVENTQ_ALLOC", IOMMU_VEVENTQ_ALLOC,
	  sizeof(struct iommu_veventq_alloc), fix_veventq,
	  { OUT(iommu_veventq_alloc, out_veventq_id) },
	  OUT(iommu_veventq_alloc, out_veventq_fd) },
	{ "HW_QUEUE_ALLOC", IOMMU_HW_QUEUE_ALLOC,
	  sizeof(struct iommu_hw_queue_alloc), fix_hw_queue,
	  { OUT(iommu_hw_queue_alloc, out_hw_queue_id) }, 0 },
	{ "TEST_CMD", IOMMU_TEST_CMD, sizeof(struct iommu_test_cmd), fix_test,
	  { 0 }, 0 },
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

/* ------------------------------------------------------------- steps */

/* ISIM_FUZZ_VERBOSE=1 prints every ioctl: a reproducer's story. */
static bool verbose;

static void step_ioctl(struct fuzz_in *in, const struct ioctl_desc *d)
{
	union {
		uint8_t b[256];
		uint64_t align;
	} arg;
	uint8_t how = fuzz_u8(in);
	uint32_t size;
	int rc;

	fuzz_fill(in, arg.b, d->size);
	memset(arg.b + d->size, 0, sizeof(arg.b) - d->size);
	/*
	 * The repair always runs (it aims the user pointers), but leaves
	 * the fields it does not name as the input gave them; now and then
	 * the size word is fuzzed as well.
	 */
	if (d->fix)
		d->fix(in, &arg);
	size = how >= 0xf8 ? fuzz_u8(in) : (uint32_t)d->size;
	memcpy(arg.b, &size, sizeof(size));
	if ((how & 0x0f) == 0x0f)
		isim_fail_nth_set(1 + fuzz_u8(in) % 16);
	rc = isim_ioctl(w.fd, d->req, &arg);
	isim_fail_nth_set(0);
	if (verbose)
		fprintf(stderr, "step %u %s: %d\n", w.step, d->name, rc);
	if (rc)
		return;
	for (int i = 0; i < 2 && d->out_id[i]; i++) {
		uint32_t id;

		memcpy(&id, arg.b + d->out_id[i], sizeof(id));
		add_id(id);
	}
	if (d->out_fd) {
		uint32_t fd;

		memcpy(&fd, arg.b + d->out_fd, sizeof(fd));
		add_fd((int)fd);
	}
	if (d->req == IOMMU_TEST_CMD)
		harvest_test((void *)&arg);
	if (d->req == IOMMU_IOAS_MAP)
		add_iova(((struct iommu_ioas_map *)(void *)&arg)->iova);
	if (d->req == IOMMU_IOAS_MAP_FILE)
		add_iova(((struct iommu_ioas_map_file *)(void *)&arg)->iova);
	if (d->req == IOMMU_IOAS_COPY)
		add_iova(((struct iommu_ioas_copy *)(void *)&arg)->dst_iova);
}

/* The calls that are not ioctls: device attach, event fds, the models. */
static void step_other(struct fuzz_in *in)
{
	uint8_t what = fuzz_u8(in);
	uint32_t dev = id_arg(in), pt = id_arg(in);
	int efd = fd_arg(in);
	size_t count = fuzz_u16(in) % SCRATCH;

	switch (what % 7) {
	case 0:
		isim_device_attach(w.fd, dev, &pt);
		break;
	case 1:
		isim_device_replace(w.fd, dev, &pt);
		break;
	case 2:
		isim_device_detach(w.fd, dev);
		break;
	case 3:
		isim_read(w.fd, efd, scratch.b, count);
		break;
	case 4:
		/* A fault response quotes a cookie: mostly a plausible one. */
		isim_write(w.fd, efd, (const void *)scratch_arg(in, count),
			   count);
		break;
	case 5:
		if (!isim_fd_close(w.fd, efd)) {
			for (size_t i = 0; i < w.nfds; i++)
				if (w.fds[i] == efd)
					w.fds[i] = w.fds[--w.nfds];
		}
		break;
	case 6:
		isim_hw_run(w.m, fuzz_u8(in));
		break;
	}
}

static void world_new(void)
{
	struct isim_machine_config cfg = {
		.mem_size = 8ull << 20,
		.page_size = PS,
	};
	struct isim_iommu *iova_only;
	char name[8];

	memset(&w, 0, sizeof(w));
	if (memfd < 0) {
		memfd = memfd_create("ioctl-fuzzer", 0);
		if (memfd < 0 || ftruncate(memfd, BUF_SIZE))
			fuzz_die("cannot make the memfd");
	}
	if (isim_machine_new(&cfg, &w.m) || isim_open(w.m, &w.fd) ||
	    isim_mem_alloc(w.m, BUF_SIZE, ISIM_BACKING_4K, (void **)&w.buf) ||
	    isim_iommu_add(w.m, "mock-iova", NULL, &iova_only))
		fuzz_die("cannot make a machine");
	for (int i = 0; i < NDEV; i++) {
		uint32_t id;

		snprintf(name, sizeof(name), "dev%d", i);
		if (isim_device_add(w.m, i ? iova_only : NULL, name,
				    &w.dev[i]) ||
		    isim_device_bind(w.fd, w.dev[i], &id))
			fuzz_die("cannot bind %s", name);
		add_id(id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	verbose = getenv("ISIM_FUZZ_VERBOSE");
	world_new();
	for (w.step = 1; in.left && w.step <= MAX_OPS; w.step++) {
		uint8_t op = fuzz_u8(&in);

		if (op % (NTABLE + 1) == NTABLE)
			step_other(&in);
		else
			step_ioctl(&in, &table[op % (NTABLE + 1)]);
		fuzz_check(w.m, op % (NTABLE + 1) == NTABLE ?
				"a non-ioctl call" :
				table[op % (NTABLE + 1)].name);
	}
	isim_close(w.fd);
	fuzz_check(w.m, "close");
	isim_mem_free(w.m, w.buf);
	isim_machine_free(w.m);
	return 0;
}
