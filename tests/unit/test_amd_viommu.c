/*
 * The "amd-viommu" driver through the real ioctls: instance settings,
 * GET_HW_INFO, VIOMMU_ALLOC of type AMD with its VF page mmap, the IOVA
 * variant of HW_QUEUE_ALLOC for the three rings and its errnos (spec
 * amd_viommu.md §5.3/§5.5, §10 rows 32-43; hw_queue.md §9 rows 31-34),
 * the VFCTRL slot it programs, and guest traffic end to end: commands via
 * the guest helpers, DMA faults as IO_PAGE_FAULT events, page requests as
 * PPR entries answered by COMPLETE_PPR_REQUEST, ring memory unmapped
 * under a running buffer, destruction in every order, and a threaded
 * stress meant to be run under TSan as well (rows 44-46).
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/helpers.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu.h"


/* Guest Control register bits (native offset 0x18). */
#define CTL_EVT_LOG_EN		(1ull << 2)
#define CTL_EVT_INT_EN		(1ull << 3)
#define CTL_COMWAIT_INT_EN	(1ull << 4)
#define CTL_CMD_EN		(1ull << 12)
#define CTL_PPR_LOG_EN		(1ull << 13)
#define CTL_PPR_INT_EN		(1ull << 14)
#define CTL_PPR_EN		(1ull << 15)
#define CTL_ALL (CTL_EVT_LOG_EN | CTL_EVT_INT_EN | CTL_COMWAIT_INT_EN | \
		 CTL_CMD_EN | CTL_PPR_LOG_EN | CTL_PPR_INT_EN | CTL_PPR_EN)

/* Guest RAM: RAM_PAGES pages at GPA_BASE, one IOAS area per page. */
#define PAGE		4096ull
#define RAM_PAGES	24
#define GPA_BASE	0x100000ull
#define CMD_GPA		(GPA_BASE + 0x0000)
#define EVT_GPA		(GPA_BASE + 0x1000)
#define PPR_GPA		(GPA_BASE + 0x2000)
#define SEM_GPA		(GPA_BASE + 0x3000)
/* A second window whose two pages are far apart in the host (row 42). */
#define SCAT_GPA	0x400000ull
#define SCAT_PAGE0	20
#define SCAT_PAGE1	17
#define VIRT_ID		0x0100
#define GDOM_ID		5

static const struct amd_cmd_format fmt = { AMD_IOTLB_PASID_LINUX, false };

struct env {
	struct isim_machine *m;
	struct isim_iommu *iommu;
	struct isim_device *dev;
	struct isim_fd *fd;
	uint8_t *ram;
	uint32_t ioas, dev_id, parent, viommu, vdev, nested;
	uint32_t hwq[AMD_RING_NR];
	uint64_t mmap_off;
	void *vf;
	struct amd_hw *hw;
	uint64_t ctl;
	pthread_mutex_t ctl_lock;	/* the VMM serialises Control writes */
};

static struct env E;

/* ------------------------------------------------------------- ioctls */

static int amd_viommu_alloc(struct iommu_viommu_amd *data, uint32_t *out)
{
	return viommu_alloc_data(E.fd, E.dev_id, E.parent,
				 IOMMU_VIOMMU_TYPE_AMD, data, sizeof(*data),
				 out);
}

static int hwq_alloc_full(uint32_t flags, uint32_t viommu, uint32_t type,
			  uint32_t index, uint64_t iova, uint64_t len,
			  uint32_t *out)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.viommu_id = viommu,
		.type = type,
		.index = index,
		.nesting_parent_iova = iova,
		.length = len,
	};
	int rc = isim_ioctl(E.fd, IOMMU_HW_QUEUE_ALLOC, &cmd);

	if (!rc && out)
		*out = cmd.out_hw_queue_id;
	return rc;
}

static int hwq_alloc(uint32_t type, uint64_t iova, uint64_t len,
		     uint32_t *out)
{
	return hwq_alloc_full(0, E.viommu, type, 0, iova, len, out);
}

/* A guest DTE the series accepts for nesting: V, GV, a GCR3 root. */
static void gdte_make(struct iommu_hwpt_amd_guest *g, bool ppr)
{
	memset(g, 0, sizeof(*g));
	g->dte[0] = 1ull | 1ull << 55 | 1ull << 58 | (ppr ? 1ull << 52 : 0);
	g->dte[1] = GDOM_ID;
}

static void control(uint64_t ctl)
{
	pthread_mutex_lock(&E.ctl_lock);
	E.ctl = ctl;
	ck_assert_int_eq(amd_viommu_control_write(E.fd, E.viommu, ctl), 0);
	pthread_mutex_unlock(&E.ctl_lock);
}

/* Turn one log's enable off and on again: the restart protocol. */
static void control_toggle(uint64_t bit)
{
	pthread_mutex_lock(&E.ctl_lock);
	amd_viommu_control_write(E.fd, E.viommu, E.ctl & ~bit);
	amd_viommu_control_write(E.fd, E.viommu, E.ctl);
	pthread_mutex_unlock(&E.ctl_lock);
}

/* -------------------------------------------------------------- setup */

static void *gva(uint64_t gpa)
{
	if (gpa >= SCAT_GPA && gpa < SCAT_GPA + 2 * PAGE)
		return E.ram + (gpa < SCAT_GPA + PAGE ? SCAT_PAGE0 :
							SCAT_PAGE1) * PAGE +
		       gpa % PAGE;
	ck_assert(gpa >= GPA_BASE && gpa < GPA_BASE + 16 * PAGE);
	return E.ram + (gpa - GPA_BASE);
}

/*
 * Machine, "amd-viommu" instance with @opts, device bound and attached to
 * a nest-parent HWPT, guest RAM mapped page by page.  With @viommu also
 * the vIOMMU, its VF page mapped, a vDEVICE and the device nested behind
 * it; with @queues the three rings (length code 8) and every enable.
 */
static void env_setup(const char *opts, bool threaded, bool viommu,
		      bool queues)
{
	struct isim_machine_config cfg = { .threaded = threaded };
	struct iommu_hwpt_amd_guest g;
	uint32_t pt;

	memset(&E, 0, sizeof(E));
	pthread_mutex_init(&E.ctl_lock, NULL);
	ck_assert_int_eq(isim_machine_new(&cfg, &E.m), 0);
	ck_assert_int_eq(isim_iommu_add(E.m, "amd-viommu", opts, &E.iommu), 0);
	ck_assert_int_eq(isim_device_add(E.m, E.iommu, "amd0", &E.dev), 0);
	ck_assert_int_eq(isim_open(E.m, &E.fd), 0);
	ck_assert_int_eq(ioas_alloc(E.fd, &E.ioas), 0);
	ck_assert_int_eq(isim_device_bind(E.fd, E.dev, &E.dev_id), 0);
	pt = E.ioas;
	ck_assert_int_eq(isim_device_attach(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.ioas,
					 IOMMU_HWPT_ALLOC_NEST_PARENT, 0, NULL,
					 0, &E.parent),
			 0);
	pt = E.parent;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(isim_mem_alloc(E.m, RAM_PAGES * PAGE, ISIM_BACKING_4K,
					(void **)&E.ram), 0);
	memset(E.ram, 0, RAM_PAGES * PAGE);
	for (unsigned i = 0; i < 16; i++)
		ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram + i * PAGE,
						PAGE, GPA_BASE + i * PAGE), 0);
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas,
					E.ram + SCAT_PAGE0 * PAGE, PAGE,
					SCAT_GPA), 0);
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas,
					E.ram + SCAT_PAGE1 * PAGE, PAGE,
					SCAT_GPA + PAGE), 0);
	if (!viommu)
		return;

	struct iommu_viommu_amd data = { .viommu_devid = 0x0002 };

	ck_assert_int_eq(amd_viommu_alloc(&data, &E.viommu), 0);
	E.mmap_off = data.out_vfmmio_mmap_offset;
	ck_assert_int_eq(isim_mmap(E.fd, E.mmap_off, AMD_VF_PAGE_SIZE,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &E.vf),
			 0);
	ck_assert_int_eq(amd_viommu_model(E.fd, E.viommu, &E.hw), 0);
	ck_assert_ptr_eq(E.vf, amd_hw_vf_page(E.hw));
	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, VIRT_ID, &E.vdev),
			 0);
	gdte_make(&g, true);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &E.nested),
			 0);
	pt = E.nested;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	if (!queues)
		return;
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 8,
				   &E.hwq[AMD_RING_CMD]), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_EVT, EVT_GPA, 8,
				   &E.hwq[AMD_RING_EVT]), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_PPR, PPR_GPA, 8,
				   &E.hwq[AMD_RING_PPR]), 0);
	control(CTL_ALL);
	ck_assert_uint_eq(amd_guest_status_read(E.vf) &
			  (AMD_STS_CMD_RUN | AMD_STS_EVT_RUN | AMD_STS_PPR_RUN),
			  AMD_STS_CMD_RUN | AMD_STS_EVT_RUN | AMD_STS_PPR_RUN);
}

/* Close everything still open; every frame and object must be in order. */
static void env_teardown(void)
{
	char report[2048];

	if (E.vf)
		ck_assert_int_eq(isim_munmap(E.fd, E.vf, AMD_VF_PAGE_SIZE), 0);
	isim_close(E.fd);
	ck_assert_int_eq(isim_mem_free(E.m, E.ram), 0);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	isim_machine_free(E.m);
	pthread_mutex_destroy(&E.ctl_lock);
	memset(&E, 0, sizeof(E));
}

static void ring(struct amd_guest_ring *g, enum amd_ring r, uint64_t gpa)
{
	amd_guest_ring_init(g, E.vf, r, gva(gpa), 8);
}

static void queue(struct amd_guest_ring *g, const struct amd_cmd *c)
{
	ck_assert_int_eq(amd_guest_cmd_queue(g, c, &fmt), 0);
}

static struct amd_cmd comp_wait(uint64_t gpa, uint64_t data, bool i)
{
	return (struct amd_cmd){
		.op = AMD_CMD_COMPLETION_WAIT,
		.comp_wait = { .s = true, .i = i, .store_addr = gpa,
			       .store_data = data },
	};
}

static void queue_cw(struct amd_guest_ring *g, uint64_t gpa, uint64_t data,
		     bool i)
{
	struct amd_cmd c = comp_wait(gpa, data, i);

	queue(g, &c);
}

static uint64_t sem_read(uint64_t gpa)
{
	return atomic_load_explicit((_Atomic uint64_t *)gva(gpa),
				    memory_order_acquire);
}

static uint64_t reg(unsigned off)
{
	return atomic_load(amd_vf_reg(E.vf, off));
}

static struct amd_hw_stats stats(void)
{
	struct amd_hw_stats st;

	amd_hw_stats(E.hw, &st);
	return st;
}

/* ------------------------------------------------ instance and vIOMMU */

START_TEST(instance_settings)
{
	struct isim_machine_config big = { .page_size = 16384 };
	struct isim_machine *m;
	struct isim_iommu *iommu;
	struct iommu_viommu_amd data = { 0 };
	struct amd_hw *hw;
	uint32_t v1, v2, v3;

	ck_assert_int_eq(isim_machine_new(NULL, &m), 0);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu", "no_such_knob=1",
					&iommu), -EINVAL);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu", "gid=3", &iommu),
			 -EINVAL);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu",
					"illegal_cmd_head=sideways", &iommu),
			 -EINVAL);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu",
					"gid_first=9,gid_last=8", &iommu),
			 -EINVAL);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu", "gid_first", &iommu),
			 -EINVAL);
	isim_machine_free(m);
	/* AMD-Vi is x86: 4 KiB pages only. */
	ck_assert_int_eq(isim_machine_new(&big, &m), 0);
	ck_assert_int_eq(isim_iommu_add(m, "amd-viommu", NULL, &iommu),
			 -EOPNOTSUPP);
	isim_machine_free(m);

	/* Two guest IDs, the model's knobs passed through. */
	env_setup("gid_first=5,gid_last=6,trans_devid_top=0xfff0,"
		  "illegal_cmd_head=past_fault,overflow_stops_run=false",
		  false, false, false);
	ck_assert_int_eq(amd_viommu_alloc(&data, &v1), 0);
	ck_assert_int_eq(amd_viommu_alloc(&data, &v2), 0);
	ck_assert_int_eq(amd_viommu_alloc(&data, &v3), -ENOSPC);
	ck_assert_int_eq(amd_viommu_model(E.fd, v1, &hw), 0);
	ck_assert_uint_eq(amd_hw_config(hw)->gid, 5);
	ck_assert_uint_eq(amd_hw_config(hw)->trans_devid, 0xfff0);
	ck_assert_int_eq(amd_hw_config(hw)->illegal_cmd_head,
			 AMD_HEAD_PAST_FAULT);
	ck_assert(!amd_hw_config(hw)->overflow_stops_run);
	ck_assert_int_eq(amd_viommu_model(E.fd, v2, &hw), 0);
	ck_assert_uint_eq(amd_hw_config(hw)->gid, 6);
	ck_assert_uint_eq(amd_hw_config(hw)->trans_devid, 0xffef);
	/* A freed gid is handed out again. */
	ck_assert_int_eq(obj_destroy(E.fd, v1), 0);
	ck_assert_int_eq(amd_viommu_alloc(&data, &v3), 0);
	ck_assert_int_eq(amd_viommu_model(E.fd, v3, &hw), 0);
	ck_assert_uint_eq(amd_hw_config(hw)->gid, 5);
	/* Not an AMD vIOMMU, not a vIOMMU. */
	ck_assert_int_eq(amd_viommu_model(E.fd, E.ioas, &hw), -ENOENT);
	env_teardown();
}
END_TEST

START_TEST(hw_info_and_geometry)
{
	struct iommu_hw_info_amd info;
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.data_len = sizeof(info),
		.data_uptr = (uintptr_t)&info,
	};
	struct iommu_iova_range ranges[4];
	struct iommu_ioas_iova_ranges rcmd = {
		.size = sizeof(rcmd),
		.num_iovas = 4,
		.allowed_iovas = (uintptr_t)ranges,
	};
	uint8_t buf[8] = { 0 };

	env_setup("efr=0x8000000f00000053,efr2=0x1234", false, false, false);
	cmd.dev_id = E.dev_id;
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_GET_HW_INFO, &cmd), 0);
	ck_assert_uint_eq(cmd.out_data_type, IOMMU_HW_INFO_TYPE_AMD);
	ck_assert_uint_eq(cmd.data_len, sizeof(info));
	ck_assert_uint_eq(info.efr, 0x8000000f00000053ull);
	ck_assert_uint_eq(info.efr2, 0x1234);
	ck_assert_uint_eq(cmd.out_max_pasid_log2, 16);
	cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_GET_HW_INFO, &cmd),
			 -EOPNOTSUPP);
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_AMD;
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_GET_HW_INFO, &cmd), 0);

	/* The whole 64-bit space is usable IOVA, 4 KiB granular. */
	rcmd.ioas_id = E.ioas;
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_IOAS_IOVA_RANGES, &rcmd), 0);
	ck_assert_uint_eq(rcmd.num_iovas, 1);
	ck_assert_uint_eq(ranges[0].start, 0);
	ck_assert_uint_eq(ranges[0].last, UINT64_MAX);
	ck_assert_uint_eq(rcmd.out_iova_alignment, PAGE);
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram + 16 * PAGE, PAGE,
					0xfffffffffffff000ull), 0);
	ck_assert_int_eq(isim_dma(E.dev, 0xfffffffffffff010ull, buf, 8, 0), 0);
	env_teardown();
}
END_TEST

START_TEST(viommu_alloc_rules)
{
	struct iommu_viommu_amd data = { 0 };
	uint32_t id, ioas2;
	void *va;

	env_setup(NULL, false, false, false);
	/* The series requires its data. */
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, E.parent,
					   IOMMU_VIOMMU_TYPE_AMD, NULL, 0, &id),
			 -EINVAL);
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, E.parent,
					   IOMMU_VIOMMU_TYPE_AMD, &data,
					   sizeof(data) - 8, &id),
			 -EINVAL);
	data.features = AMD_VIOMMU_FEATURE_SVIOMMU;
	ck_assert_int_eq(amd_viommu_alloc(&data, &id), -EOPNOTSUPP);
	data.features = 0;
	data.reserved = 1;
	ck_assert_int_eq(amd_viommu_alloc(&data, &id), -EOPNOTSUPP);
	data.reserved = 0;
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, E.parent,
					   IOMMU_VIOMMU_TYPE_ARM_SMMUV3, &data,
					   sizeof(data), &id),
			 -EOPNOTSUPP);
	/* A failed alloc consumed no ID. */
	ck_assert_int_eq(ioas_alloc(E.fd, &ioas2), 0);
	ck_assert_int_eq(obj_destroy(E.fd, ioas2), 0);

	ck_assert_int_eq(amd_viommu_alloc(&data, &E.viommu), 0);
	ck_assert_uint_eq(E.viommu, ioas2);
	ck_assert_uint_ge(data.out_vfmmio_mmap_offset, PAGE);
	/* Only exactly the one page maps. */
	ck_assert_int_ne(isim_mmap(E.fd, data.out_vfmmio_mmap_offset + PAGE,
				   PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
				   &va), 0);
	ck_assert_int_ne(isim_mmap(E.fd, data.out_vfmmio_mmap_offset,
				   2 * PAGE, PROT_READ | PROT_WRITE,
				   MAP_SHARED, &va), 0);
	ck_assert_int_eq(isim_mmap(E.fd, data.out_vfmmio_mmap_offset, PAGE,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &va),
			 0);
	/* RESET_VMMIO leaves every guest register zero. */
	for (unsigned off = 0; off < PAGE; off += 8)
		ck_assert_uint_eq(atomic_load(amd_vf_reg(va, off)), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
	ck_assert_int_eq(isim_munmap(E.fd, va, PAGE), 0);
	/* The nesting parent is held by the vIOMMU. */
	ck_assert_int_eq(obj_destroy(E.fd, E.parent), -EBUSY);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), 0);
	E.viommu = 0;
	env_teardown();
}
END_TEST

START_TEST(nested_and_vdevice_rules)
{
	struct iommu_hwpt_amd_guest g;
	uint32_t id, pt;

	env_setup(NULL, false, true, false);
	/* Mode or a host table root set: stage 2 is the host's. */
	gdte_make(&g, false);
	g.dte[0] |= 4ull << 9;
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 -EINVAL);
	gdte_make(&g, false);
	g.dte[0] &= ~(1ull << 55);	/* no GV */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 -EINVAL);
	gdte_make(&g, false);
	g.dte[0] &= ~(7ull << 58);	/* no GCR3 root */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 -EINVAL);
	gdte_make(&g, false);
	g.dte[2] = 2ull << 54;		/* guest paging mode 2 */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 -EINVAL);
	gdte_make(&g, false);
	g.dte[0] |= 3ull << 56;		/* GLX 3 */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 -EINVAL);
	gdte_make(&g, false);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_ARM_SMMUV3, &g,
					 sizeof(g), &id),
			 -EOPNOTSUPP);
	g.dte[2] = 1ull << 54;		/* 5-level guest table */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &id),
			 0);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
	/* 16-bit guest DeviceIDs only; the setup's vDEVICE is the one. */
	ck_assert_int_eq(obj_destroy(E.fd, E.dev_id), -EBUSY);
	pt = E.parent;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.vdev), 0);
	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, 0x10000, &id),
			 -EINVAL);
	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, 0xffff, &id), 0);
	env_teardown();
}
END_TEST

/* ------------------------------------------------------ HW_QUEUE_ALLOC */

START_TEST(hw_queue_errnos)
{
	uint32_t id, next, ioas2;

	env_setup(NULL, false, true, false);
	/* Rows 32-37 of amd_viommu.md §10. */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 0,
				   &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_DEFAULT, CMD_GPA, 8,
				   &id), -EOPNOTSUPP);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
				   CMD_GPA, 8, &id), -EOPNOTSUPP);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD,
				   0xfffffffffffff000ull, 0x2000, &id),
			 -EOVERFLOW);
	ck_assert_int_eq(hwq_alloc_full(1, E.viommu,
					IOMMU_HW_QUEUE_TYPE_AMD_CMD, 0, CMD_GPA,
					8, &id), -EOPNOTSUPP);
	ck_assert_int_eq(hwq_alloc_full(0, 0x7777, IOMMU_HW_QUEUE_TYPE_AMD_CMD,
					0, CMD_GPA, 8, &id), -ENOENT);
	ck_assert_int_eq(hwq_alloc_full(0, E.ioas, IOMMU_HW_QUEUE_TYPE_AMD_CMD,
					0, CMD_GPA, 8, &id), -ENOENT);
	/* Row 38 and the other model choices of §5.5. */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 7,
				   &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 16,
				   &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA + 8, 8,
				   &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD,
				   1ull << 52, 8, &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc_full(0, E.viommu,
					IOMMU_HW_QUEUE_TYPE_AMD_EVT, 1, EVT_GPA,
					8, &id), -EOPNOTSUPP);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_PPR + 1, PPR_GPA, 8,
				   &id), -EOPNOTSUPP);

	/* hw_queue.md row 31: on unmapped IOVA, no pin, one ID. */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, 0x80000000ull,
				   8, &id), 0);
	ck_assert_int_eq(ioas_alloc(E.fd, &next), 0);
	ck_assert_uint_eq(next, id + 1);
	/* hw_queue.md row 32: an IOAS_UNMAP under the queue is not blocked. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram + 16 * PAGE, PAGE,
					0x80000000ull), 0);
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, 0x80000000ull, PAGE, NULL),
			 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
	ck_assert_int_eq(obj_destroy(E.fd, next), 0);
	/* Failures consumed nothing either. */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 7,
				   &id), -EINVAL);
	ck_assert_int_eq(ioas_alloc(E.fd, &ioas2), 0);
	ck_assert_uint_eq(ioas2, next - 1);
	env_teardown();
}
END_TEST

START_TEST(hw_queue_length_settings)
{
	uint32_t id;
	struct amd_ring_info ri;

	/* The uAPI's reading of length: bytes, a power of two. */
	env_setup("alloc_length_units=bytes", false, true, false);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 8,
				   &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA,
				   0x1800, &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA,
				   0x100000, &id), -EINVAL);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA,
				   0x2000, &id), 0);
	amd_hw_ring_info(E.hw, AMD_RING_CMD, &ri);
	ck_assert_uint_eq(ri.len, 9);
	ck_assert_uint_eq(ri.size, 0x2000);
	env_teardown();

	/* The prototype's leniency: any code, low bits of the base dropped. */
	env_setup("alloc_strict_len=false,alloc_strict_base=false", false,
		  true, false);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA + 0x10,
				   0x19, &id), 0);
	amd_hw_ring_info(E.hw, AMD_RING_CMD, &ri);
	ck_assert_uint_eq(ri.len, 9);
	ck_assert_uint_eq(ri.base, CMD_GPA);
	env_teardown();
}
END_TEST

/* Rows 39-41: what HW_QUEUE_ALLOC and Control put into VFCTRL. */
START_TEST(vfctrl_programming)
{
	uint32_t cmdq, pprq, evtq, again;
	uint64_t w, ctl;

	env_setup(NULL, false, true, false);
	/* PPREn and PPRIntEn are not log enables: the ring stays stopped. */
	control(CTL_PPR_EN | CTL_PPR_INT_EN);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_PPR, 0x123456000ull,
				   9, &pprq), 0);
	w = amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_PPR);
	ck_assert_uint_eq(w >> 16 & 0xffffffffffull, 0x123456);
	ck_assert_uint_eq(w & 0xf, 9);
	ck_assert_uint_eq(w & 0xff00, AMD_VFCTRL_INT_EN | AMD_VFCTRL_PPR_EN);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, 0x123456000ull,
				   9, &cmdq), 0);
	w = amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_CMD);
	ck_assert_uint_eq(w >> 12 & 0xffffffffffull, 0x123456);
	ck_assert_uint_eq(w & 0xf, 9);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_EVT, EVT_GPA, 8,
				   &evtq), 0);

	/* #41: the flags change; the base bits 15:12 under them do not. */
	control(CTL_CMD_EN | CTL_COMWAIT_INT_EN | CTL_EVT_LOG_EN | CTL_PPR_EN);
	ck_assert_uint_eq(amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_CMD),
			  0x123456000ull | AMD_VFCTRL_EN | AMD_VFCTRL_INT_EN | 9);
	ck_assert_uint_eq(amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_EVT) & 0x0f00,
			  AMD_VFCTRL_EN);
	ck_assert_uint_eq(amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_PPR) & 0xff00,
			  AMD_VFCTRL_PPR_EN);
	ck_assert_int_eq(amd_viommu_control_read(E.fd, E.viommu, &ctl), 0);
	ck_assert_uint_eq(ctl, CTL_CMD_EN | CTL_COMWAIT_INT_EN |
				       CTL_EVT_LOG_EN | CTL_PPR_EN);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN);

	/* A running ring cannot be reprogrammed. */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, CMD_GPA, 8,
				   &again), -EBUSY);
	/* A stopped one can: the last writer wins... */
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_PPR, PPR_GPA, 8,
				   &again), 0);
	w = amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_PPR);
	ck_assert_uint_eq(w >> 16 & 0xffffffffffull, PPR_GPA >> 12);
	/* ...and the queue it replaced takes nothing with it. */
	ck_assert_int_eq(obj_destroy(E.fd, pprq), 0);
	w = amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_PPR);
	ck_assert_uint_eq(w & 0xf, 8);
	ck_assert_int_eq(obj_destroy(E.fd, again), 0);
	w = amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_PPR);
	ck_assert_uint_eq(w & ~0xff00ull, 0);

	/* DESTROY stops the ring and clears its slot (model choice). */
	ck_assert_int_eq(obj_destroy(E.fd, cmdq), 0);
	/* ComWaitIntEn is the guest's Control, not the queue's: it stays. */
	ck_assert_uint_eq(amd_hw_vfctrl_read(E.hw, AMD_VFCTRL_OFF_CMD),
			  AMD_VFCTRL_INT_EN);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	ck_assert_int_eq(obj_destroy(E.fd, evtq), 0);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN));
	env_teardown();
}
END_TEST

/* ---------------------------------------------------------- end to end */

START_TEST(end_to_end)
{
	struct amd_guest_ring cq, el, pl;
	struct amd_ppr_response rsp;
	struct amd_hw_stats st;
	struct amd_entry e;
	struct amd_event ev;
	uint8_t buf[8] = { 0 };
	uint64_t n, ring_faults, dma_faults;
	uint32_t pt;
	int rc;

	env_setup(NULL, false, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	ring(&pl, AMD_RING_PPR, PPR_GPA);

	/* Every opcode a guest may use, then a completion wait with I. */
	queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
				      .inv_dte = { .devid = VIRT_ID } });
	queue(&cq, &(struct amd_cmd){
		.op = AMD_CMD_INV_IOMMU_PAGES,
		.inv_pages = { .domid = GDOM_ID, .s = true, .pde = true,
			       .addr = 0x7ffffffffffff000ull } });
	queue(&cq, &(struct amd_cmd){
		.op = AMD_CMD_INV_IOTLB_PAGES,
		.inv_iotlb = { .devid = VIRT_ID, .queueid = VIRT_ID,
			       .addr = 0x1000 } });
	queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_INTERRUPT_TABLE,
				      .inv_irt = { .devid = VIRT_ID } });
	queue(&cq, &(struct amd_cmd){
		.op = AMD_CMD_PREFETCH_IOMMU_PAGES,
		.prefetch = { .devid = VIRT_ID, .count = 2, .addr = 0x2000 } });
	queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_ALL });
	queue_cw(&cq, SEM_GPA, 0x1122334455667788ull,
						true);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 7);
	ck_assert_uint_eq(sem_read(SEM_GPA), 0x1122334455667788ull);
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 0x70);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_COMWAIT_INT);
	st = stats();
	for (unsigned op = 1; op <= 8; op++)
		if (op != AMD_CMD_COMPLETE_PPR_REQUEST)
			ck_assert_uint_eq(st.cmd_exec[op], 1);
	ck_assert_uint_eq(st.msi[AMD_IRQ_COMWAIT], 1);
	amd_guest_status_write(E.vf, AMD_STS_COMWAIT_INT);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_COMWAIT_INT));

	/* Row 21 through isim_dma: IO_PAGE_FAULT with the guest's IDs. */
	ck_assert_int_eq(isim_dma(E.dev, 0xdead000, buf, 8, ISIM_DMA_WRITE),
			 -EFAULT);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	ck_assert_uint_eq(e.q0, VIRT_ID | (uint64_t)GDOM_ID << 32 |
					1ull << 53 | 2ull << 60);
	ck_assert_uint_eq(e.q1, 0xdead000);
	ck_assert_uint_eq(reg(AMD_VF_EVT_TAIL), 0x10);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_INT);
	ck_assert_uint_eq(stats().msi[AMD_IRQ_EVT], 1);
	/* A present entry that denies a write: a permission fault. */
	ck_assert_int_eq(ioas_map(E.fd, E.ioas, E.ram + 16 * PAGE, PAGE,
				  IOMMU_IOAS_MAP_READABLE |
					  IOMMU_IOAS_MAP_FIXED_IOVA,
				  &(uint64_t){ 0x900000 }), 0);
	ck_assert_int_eq(isim_dma(E.dev, 0x900000, buf, 8, 0), 0);
	ck_assert_int_eq(isim_dma(E.dev, 0x900008, buf, 8, ISIM_DMA_WRITE),
			 -EFAULT);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	amd_event_decode(&e, &ev);
	ck_assert_uint_eq(ev.code, AMD_EVT_IO_PAGE_FAULT);
	ck_assert_uint_eq(ev.flags, AMD_EVT_F_RW | AMD_EVT_F_PR | AMD_EVT_F_PE);
	ck_assert_uint_eq(ev.addr, 0x900008);

	/* Row 28 through isim_device_page_request. */
	rc = isim_device_page_request(E.dev, 0x12345, 0x7f0000001000ull,
				      ISIM_PRQ_READ | ISIM_PRQ_WRITE |
					      ISIM_PRQ_LAST | ISIM_PRQ_PASID |
					      ISIM_PRQ_PRIV,
				      0x1a3);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(amd_guest_log_pop(&pl, &e, 0), 0);
	ck_assert_uint_eq(e.q0, VIRT_ID | 0x2345ull << 16 | 0x1a3ull << 32 |
					1ull << 41 | 1ull << 42 | 1ull << 50 |
					1ull << 53 | 1ull << 56 | 1ull << 60);
	ck_assert_uint_eq(e.q1, 0x7f0000001000ull);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_PPR_INT);
	ck_assert_uint_eq(stats().msi[AMD_IRQ_PPR], 1);
	ck_assert_uint_eq(stats().ppr_pending, 1);
	/* Row 29: the guest answers; the device hears exactly that. */
	queue(&cq, &(struct amd_cmd){
		.op = AMD_CMD_COMPLETE_PPR_REQUEST,
		.complete_ppr = { .devid = VIRT_ID, .pasid = 0x12345,
				  .gn = true, .tag = 0x1a3, .status = 0 } });
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 1);
	ck_assert_int_eq(amd_viommu_ppr_responses(E.dev, &rsp, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(rsp.devid, VIRT_ID);
	ck_assert_uint_eq(rsp.pasid, 0x12345);
	ck_assert(rsp.gn);
	ck_assert_uint_eq(rsp.prgi, 0x1a3);
	ck_assert_int_eq(rsp.status, AMD_PPR_RSP_SUCCESS);
	ck_assert(rsp.matched);
	st = stats();
	ck_assert_uint_eq(st.ppr_pending, 0);
	ck_assert_uint_eq(st.ppr_cpl_matched, 1);
	/* A response for a DeviceID with no vDEVICE goes nowhere. */
	queue(&cq, &(struct amd_cmd){
		.op = AMD_CMD_COMPLETE_PPR_REQUEST,
		.complete_ppr = { .devid = 0x0777, .tag = 1 } });
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 1);
	ck_assert_int_eq(amd_viommu_ppr_responses(E.dev, NULL, &n), 0);
	ck_assert_uint_eq(n, 1);

	/* Row 14: an illegal command stops the buffer with its GPA logged. */
	queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_ALL });
	ck_assert_int_eq(amd_guest_cmd_push(&cq, &(struct amd_entry){
						 .q0 = 9ull << 60 }), 0);
	queue_cw(&cq, SEM_GPA, 2, false);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 2);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	ck_assert_uint_eq(e.q0, 5ull << 60);
	ck_assert_uint_eq(e.q1, CMD_GPA + 0xa0);
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 0xa0);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(sem_read(SEM_GPA), 0x1122334455667788ull);
	/* Row 15: the reset sequence resumes it. */
	control(CTL_ALL & ~CTL_CMD_EN);
	amd_guest_ring_reset(&cq);
	control(CTL_ALL);
	queue_cw(&cq, SEM_GPA, 3, false);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 1);
	ck_assert_uint_eq(sem_read(SEM_GPA), 3);

	/* Rows 23-25 through DMA faults: 255 fit, the next overflows. */
	for (unsigned i = 0; i < 256; i++)
		ck_assert_int_eq(isim_dma(E.dev, 0x10000000ull + i * PAGE, buf,
					  8, 0), -EFAULT);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_OVERFLOW);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN));
	ck_assert_uint_eq(stats().overflows[AMD_RING_EVT], 1);
	for (unsigned i = 0; i < 255; i++) {
		ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
		ck_assert_uint_eq(e.q1, 0x10000000ull + i * PAGE);
	}
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), -EAGAIN);
	amd_guest_status_write(E.vf, AMD_STS_EVT_OVERFLOW);
	control_toggle(CTL_EVT_LOG_EN);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN);
	ck_assert_int_eq(isim_dma(E.dev, 0x20000000ull, buf, 8, 0), -EFAULT);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	ck_assert_uint_eq(e.q1, 0x20000000ull);

	/* Nothing was a host fault; isim_check below: no bad DMA. */
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 0);
	ck_assert_uint_eq(dma_faults, 0);

	/* Teardown in dependency order; each holder makes DESTROY EBUSY. */
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_EVT]), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_CMD]), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_PPR]), 0);
	/* Queues gone: requests are refused, faults still logged nowhere. */
	rc = isim_device_page_request(E.dev, 1, 0x1000, ISIM_PRQ_READ, 1);
	ck_assert_int_eq(rc, -EAGAIN);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
	ck_assert_int_eq(isim_munmap(E.fd, E.vf, AMD_VF_PAGE_SIZE), 0);
	E.vf = NULL;
	ck_assert_int_eq(obj_destroy(E.fd, E.nested), -EBUSY);
	pt = E.parent;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.nested), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.vdev), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), 0);
	ck_assert_int_eq(isim_device_detach(E.fd, E.dev_id), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.parent), 0);
	ck_assert_int_eq(isim_device_unbind(E.fd, E.dev_id), 0);
	env_teardown();
}
END_TEST

/*
 * Destroy in any order: every permutation of the three queues, with the
 * vDEVICE and the nested HWPT dropped at different points, then close.
 * _i == 6: close with everything alive.
 */
START_TEST(destroy_orders)
{
	static const int perm[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
					{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	struct amd_guest_ring cq;
	uint32_t pt;

	env_setup(NULL, false, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	queue_cw(&cq, SEM_GPA, 1, false);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 100), 1);
	if (_i < 6) {
		for (int k = 0; k < 3; k++) {
			if (k == _i % 3) {
				pt = E.parent;
				ck_assert_int_eq(isim_device_replace(E.fd,
								     E.dev_id,
								     &pt), 0);
				ck_assert_int_eq(obj_destroy(E.fd, E.nested),
						 0);
			}
			ck_assert_int_eq(obj_destroy(E.fd,
						     E.hwq[perm[_i][k]]), 0);
			ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
		}
		ck_assert_int_eq(obj_destroy(E.fd, E.vdev), 0);
		ck_assert_int_eq(isim_munmap(E.fd, E.vf, AMD_VF_PAGE_SIZE), 0);
		E.vf = NULL;
		ck_assert_int_eq(obj_destroy(E.fd, E.viommu), 0);
		ck_assert_int_eq(isim_hw_run(E.m, 100), 0);
	} else {
		/* Close releases the mapping with the file. */
		E.vf = NULL;
	}
	env_teardown();
}
END_TEST

/* -------------------------------------------- unmapped ring memory */

static bool log_find(struct amd_guest_ring *el, uint8_t code,
		     struct amd_event *out)
{
	struct amd_entry e;

	while (!amd_guest_log_pop(el, &e, 1000)) {
		amd_event_decode(&e, out);
		if (out->code == code)
			return true;
	}
	return false;
}

/* Rows 19, 20, 43: no translation under the ring is a contained fault. */
START_TEST(unmap_cmd_buffer_stepped)
{
	struct amd_guest_ring cq, el;
	struct amd_event ev;
	uint64_t ring_faults, dma_faults;
	char report[2048];

	env_setup(NULL, false, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	for (unsigned i = 0; i < 10; i++)
		queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_ALL });
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 4), 4);
	/* The VMM unmaps the ring while it runs: not blocked. */
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, CMD_GPA, PAGE, NULL), 0);
	ck_assert_uint_eq(isim_hw_run(E.m, 100), 1);
	ck_assert(log_find(&el, AMD_EVT_COMMAND_HW_ERROR, &ev));
	ck_assert_uint_eq(ev.addr, CMD_GPA + 0x40);
	ck_assert_uint_eq(ev.flags, AMD_EVT_F_TYPE(AMD_HWERR_TARGET_ABORT));
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 0x40);
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	ck_assert_uint_eq(stats().last_fault_gpa, CMD_GPA + 0x40);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	/* The other rings still work. */
	ck_assert_int_eq(isim_dma(E.dev, 0xbad000, report, 8, 0), -EFAULT);
	ck_assert(log_find(&el, AMD_EVT_IO_PAGE_FAULT, &ev));

	/* Map it back, restart: processing resumes where it stopped. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram, PAGE, CMD_GPA), 0);
	control(CTL_ALL & ~CTL_CMD_EN);
	control(CTL_ALL);
	ck_assert_uint_eq(isim_hw_run(E.m, 100), 6);

	/* Row 20: a completion store to unmapped GPA. */
	queue_cw(&cq, 0x7000000, 1, false);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 100), 1);
	ck_assert(log_find(&el, AMD_EVT_COMMAND_HW_ERROR, &ev));
	ck_assert_uint_eq(ev.addr, 0x7000000);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));

	/* An event log without memory: dropped, log stopped, host fault. */
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, EVT_GPA, PAGE, NULL), 0);
	ck_assert_int_eq(isim_dma(E.dev, 0xbad000, report, 8, 0), -EFAULT);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN));
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 3);
	/* Freeing the guest memory after all touches nothing. */
	env_teardown();
}
END_TEST

/*
 * The model runs a page of the ring per translation, holding it while it
 * consumes: an unmap between two batches must still stop the next batch
 * on COMMAND_HARDWARE_ERROR at the head, having run nothing, and never
 * touch the freed frame; an illegal command in the middle of a batch
 * stops it exactly there.
 */
START_TEST(batches_unmap_and_illegal)
{
	struct amd_guest_ring cq, el;
	struct amd_event ev;
	uint64_t ring_faults, dma_faults;
	char report[2048];

	env_setup(NULL, false, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	for (uint16_t i = 0; i < 200; i++)
		queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
					      .inv_dte.devid = i });
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 200);
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 200 * 16);

	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, CMD_GPA, PAGE, NULL), 0);
	for (uint16_t i = 0; i < 5; i++)
		queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
					      .inv_dte.devid = i });
	queue_cw(&cq, SEM_GPA, 1, false);
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 1);
	ck_assert(log_find(&el, AMD_EVT_COMMAND_HW_ERROR, &ev));
	ck_assert_uint_eq(ev.addr, CMD_GPA + 200 * 16);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 200 * 16);
	ck_assert_uint_eq(stats().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 200);
	ck_assert_uint_eq(sem_read(SEM_GPA), 0);
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);

	/* Mapped again and restarted: the six run, then an illegal one. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram, PAGE, CMD_GPA), 0);
	control(CTL_ALL & ~CTL_CMD_EN);
	control(CTL_ALL);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 6);
	ck_assert_uint_eq(sem_read(SEM_GPA), 1);
	for (uint16_t i = 0; i < 30; i++)
		queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
					      .inv_dte.devid = i });
	/* INVALIDATE_IOMMU_ALL with a reserved bit set, then more. */
	amd_guest_cmd_push(&cq, &(struct amd_entry){ 8ull << 60 | 1, 0 });
	for (uint16_t i = 0; i < 30; i++)
		queue(&cq, &(struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
					      .inv_dte.devid = i });
	amd_guest_cmd_ring_tail(&cq);
	ck_assert_uint_eq(isim_hw_run(E.m, 1000), 31);
	ck_assert(log_find(&el, AMD_EVT_ILLEGAL_COMMAND_ERROR, &ev));
	ck_assert_uint_eq(ev.addr, CMD_GPA + (206 + 30) * 16);
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), (206 + 30) * 16);
	ck_assert_uint_eq(stats().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 235);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	env_teardown();
}
END_TEST

/*
 * A ring in ordinary program memory: the simulator reaches such frames
 * only by copying, so the model takes its entry-by-entry path there, with
 * the same results.
 */
START_TEST(ring_in_program_memory)
{
	const uint64_t gpa = 0x800000;
	struct amd_guest_ring cq;
	uint8_t *buf = aligned_alloc(PAGE, 2 * PAGE);
	uint32_t id;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0, 2 * PAGE);
	env_setup(NULL, false, true, true);
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, buf, 2 * PAGE, gpa), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_CMD]), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, gpa, 9, &id),
			 0);
	control(CTL_ALL);
	amd_guest_ring_init(&cq, E.vf, AMD_RING_CMD, buf, 9);
	for (unsigned int lap = 0; lap < 3; lap++) {
		for (uint16_t i = 0; i < 150; i++)
			queue(&cq, &(struct amd_cmd){
					.op = AMD_CMD_INV_DEVTAB_ENTRY,
					.inv_dte.devid = i });
		queue_cw(&cq, SEM_GPA, lap + 1, false);
		amd_guest_cmd_ring_tail(&cq);
		ck_assert_uint_eq(isim_hw_run(E.m, 1000), 151);
		ck_assert_uint_eq(sem_read(SEM_GPA), lap + 1);
	}
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 3 * 151 * 16);
	ck_assert_uint_eq(stats().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 450);
	ck_assert_uint_eq(stats().cmd_hw_error + stats().cmd_illegal, 0);
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, gpa, 2 * PAGE, NULL), 0);
	env_teardown();
	free(buf);
}
END_TEST

struct pusher {
	struct amd_guest_ring *cq;
	atomic_bool stop;
	atomic_ulong pushed;
};

static void *push_forever(void *arg)
{
	struct pusher *p = arg;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!atomic_load(&p->stop)) {
		if (amd_guest_cmd_queue(p->cq,
					&(struct amd_cmd){
						.op = AMD_CMD_INV_IOMMU_ALL },
					&fmt)) {
			/* Full: the buffer stopped, or is catching up. */
			if (!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN))
				break;
			sched_yield();
		} else {
			amd_guest_cmd_ring_tail(p->cq);
			atomic_fetch_add(&p->pushed, 1);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			break;
	}
	return NULL;
}

/* The same while the engine thread runs and the guest keeps pushing. */
START_TEST(unmap_cmd_buffer_threaded)
{
	struct amd_guest_ring cq, el;
	struct pusher p = { .cq = &cq };
	struct amd_event ev;
	pthread_t t;
	char report[2048];

	env_setup(NULL, true, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	ck_assert_int_eq(pthread_create(&t, NULL, push_forever, &p), 0);
	while (atomic_load(&p.pushed) < 2000)
		sched_yield();
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, CMD_GPA, PAGE, NULL), 0);
	for (int i = 0; i < 30000 &&
			(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN); i++)
		usleep(1000);
	atomic_store(&p.stop, true);
	pthread_join(t, NULL);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
	ck_assert(log_find(&el, AMD_EVT_COMMAND_HW_ERROR, &ev));
	ck_assert_uint_eq(ev.addr & ~(PAGE - 1), CMD_GPA);
	ck_assert_uint_eq(ev.addr, CMD_GPA + reg(AMD_VF_CMD_HEAD));
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	env_teardown();
}
END_TEST

/* Row 42: a ring over two guest pages far apart in the host. */
START_TEST(scattered_ring)
{
	struct amd_hw_stats st;
	uint64_t tail = 0;
	uint32_t id;

	env_setup(NULL, false, true, true);
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_CMD]), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_CMD, SCAT_GPA, 9,
				   &id), 0);
	control(CTL_ALL);
	for (unsigned i = 0; i < 300; i++) {
		struct amd_cmd c = comp_wait(SEM_GPA, i + 1, false);
		struct amd_entry e;

		ck_assert_int_eq(amd_cmd_encode(&c, &fmt, &e), 0);
		amd_entry_to_bytes(&e, gva(SCAT_GPA + tail));
		tail = (tail + 16) % 0x2000;
		if (i % 100 == 99) {
			atomic_store_explicit(amd_vf_reg(E.vf, AMD_VF_CMD_TAIL),
					      tail, memory_order_release);
			ck_assert_uint_eq(isim_hw_run(E.m, 1000), 100);
			ck_assert_uint_eq(sem_read(SEM_GPA), i + 1);
		}
	}
	st = stats();
	ck_assert_uint_eq(st.cmd_exec[AMD_CMD_COMPLETION_WAIT], 300);
	ck_assert_uint_eq(st.cmd_hw_error, 0);
	ck_assert_uint_eq(reg(AMD_VF_CMD_HEAD), 300 * 16);
	/* Nothing pinned: both pages unmap while the queue lives. */
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, SCAT_GPA, PAGE, NULL), 0);
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, SCAT_GPA + PAGE, PAGE, NULL),
			 0);
	env_teardown();
}
END_TEST

/*
 * Event bursts through the real provider: a log over two guest pages is
 * written in place, a page at a time under the nesting parent's walk; an
 * IOAS_UNMAP of its second page makes the burst's entry there the
 * contained fault a lone event meets (dropped, log stopped, host fault),
 * and the restart after mapping it back resumes there.  A log in program
 * memory takes the copying path with the same result.  (Device DMA faults
 * stay lone events: isim_dma stops at the first page that faults.)
 */
START_TEST(event_bursts)
{
	const uint64_t log_gpa = GPA_BASE + 4 * PAGE;
	const uint64_t prog_gpa = 0x800000;
	uint8_t *prog = aligned_alloc(PAGE, PAGE);
	struct amd_event ev[300];
	struct amd_guest_ring el;
	struct amd_entry e;
	uint64_t ring_faults, dma_faults;
	unsigned int logged = 0;
	char report[2048];
	uint32_t id;

	ck_assert_ptr_nonnull(prog);
	memset(prog, 0, PAGE);
	env_setup(NULL, false, true, true);
	for (unsigned int i = 0; i < 300; i++)
		ev[i] = (struct amd_event){
			.code = AMD_EVT_IO_PAGE_FAULT, .devid = VIRT_ID,
			.domid = GDOM_ID, .flags = AMD_EVT_F_RW,
			.addr = 0x10000000ull + i * PAGE,
		};
	ck_assert_int_eq(obj_destroy(E.fd, E.hwq[AMD_RING_EVT]), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_EVT, log_gpa, 9,
				   &id), 0);
	control(CTL_ALL);
	amd_guest_ring_init(&el, E.vf, AMD_RING_EVT, gva(log_gpa), 9);

	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, log_gpa + PAGE, PAGE, NULL),
			 0);
	ck_assert_int_eq(amd_hw_events(E.hw, ev, 300, &logged), -EFAULT);
	ck_assert_uint_eq(logged, 256);
	ck_assert_uint_eq(reg(AMD_VF_EVT_TAIL), 0x1000);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN));
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	ck_assert_uint_eq(stats().last_fault_gpa, log_gpa + PAGE);
	ck_assert_uint_eq(stats().dropped[AMD_RING_EVT], 44);
	ck_assert_uint_eq(stats().msi[AMD_IRQ_EVT], 1);
	for (unsigned int i = 0; i < 256; i++) {
		ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
		ck_assert_uint_eq(e.q1, 0x10000000ull + i * PAGE);
	}
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), -EAGAIN);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);

	/* Mapped back and restarted: the next burst crosses into it. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram + 5 * PAGE, PAGE,
					log_gpa + PAGE), 0);
	control_toggle(CTL_EVT_LOG_EN);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN);
	ck_assert_int_eq(amd_hw_events(E.hw, ev, 300, &logged), 0);
	ck_assert_uint_eq(logged, 300);
	for (unsigned int i = 0; i < 300; i++) {
		ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
		ck_assert_uint_eq(e.q0, VIRT_ID | (uint64_t)GDOM_ID << 32 |
						1ull << 53 | 2ull << 60);
		ck_assert_uint_eq(e.q1, 0x10000000ull + i * PAGE);
	}
	ck_assert_uint_eq(reg(AMD_VF_EVT_TAIL), (0x1000 + 300 * 16) % 0x2000);

	/* The log in program memory: copied entry by entry, same result. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, prog, PAGE, prog_gpa), 0);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
	ck_assert_int_eq(hwq_alloc(IOMMU_HW_QUEUE_TYPE_AMD_EVT, prog_gpa, 8,
				   &id), 0);
	control(CTL_ALL);
	amd_guest_ring_init(&el, E.vf, AMD_RING_EVT, prog, 8);
	ck_assert_int_eq(amd_hw_events(E.hw, ev, 300, &logged), -ENOSPC);
	ck_assert_uint_eq(logged, 255);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_OVERFLOW);
	for (unsigned int i = 0; i < 255; i++) {
		ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
		ck_assert_uint_eq(e.q1, 0x10000000ull + i * PAGE);
	}
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, prog_gpa, PAGE, NULL), 0);
	env_teardown();
	free(prog);
}
END_TEST

/* Drained entries, for the tests below. */
struct drained {
	unsigned int n;
	struct amd_entry e[256];
};

static void drain_take(void *arg, const struct amd_entry *e)
{
	struct drained *d = arg;

	ck_assert_uint_lt(d->n, 256);
	d->e[d->n++] = *e;
}

static uint64_t xlat_walks(void)
{
	uint64_t walks;

	ck_assert_int_eq(amd_viommu_xlat_walks(E.fd, E.viommu, &walks), 0);
	return walks;
}

/* A burst of 64 IO_PAGE_FAULTs from @addr; what amd_hw_events says. */
static int evt_burst(uint64_t addr, unsigned int *logged)
{
	struct amd_event ev[64];

	for (unsigned int i = 0; i < 64; i++)
		ev[i] = (struct amd_event){
			.code = AMD_EVT_IO_PAGE_FAULT, .devid = VIRT_ID,
			.domid = GDOM_ID, .flags = AMD_EVT_F_RW,
			.addr = addr + i * PAGE,
		};
	return amd_hw_events(E.hw, ev, 64, logged);
}

/* Take 64 entries from @el: the events of evt_burst(@addr), in order. */
static void evt_drain_check(struct amd_guest_ring *el, uint64_t addr)
{
	static struct drained d;

	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(amd_guest_log_drain(el, 64, 0, drain_take, &d), 64);
	for (unsigned int i = 0; i < 64; i++)
		ck_assert_uint_eq(d.e[i].q1, addr + i * PAGE);
}

static void evt_drain_empty(struct amd_guest_ring *el)
{
	static struct drained d;

	ck_assert_int_eq(amd_guest_log_drain(el, 64, 0, drain_take, &d), 0);
}

/*
 * The page ops keep a log page's translation with the parent's unmap
 * generation: a later burst to the page does not walk, an unmap anywhere
 * in the parent makes the next one walk, an IOAS_UNMAP of the log page
 * itself gives the next burst the host fault it gets without the cache
 * (log stopped, nothing written to the page that was unmapped), and after
 * a remap (to other memory) and a restart the new translation is found
 * and kept.
 */
START_TEST(xlat_cache_unmap)
{
	const uint64_t new_page = 18;	/* unused by the other windows */
	uint64_t walks, ring_faults, dma_faults;
	static uint8_t before[PAGE];
	struct amd_guest_ring el;
	unsigned int logged;
	char report[2048];

	env_setup(NULL, false, true, true);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	walks = xlat_walks();
	ck_assert_int_eq(evt_burst(0x1000000, &logged), 0);
	ck_assert_uint_eq(logged, 64);
	ck_assert_uint_eq(xlat_walks(), walks + 1);
	evt_drain_check(&el, 0x1000000);
	ck_assert_int_eq(evt_burst(0x2000000, &logged), 0);
	ck_assert_uint_eq(xlat_walks(), walks + 1);
	evt_drain_check(&el, 0x2000000);

	/* An unmap elsewhere: the generation moved, so one walk again. */
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, SEM_GPA, PAGE, NULL), 0);
	ck_assert_int_eq(evt_burst(0x3000000, &logged), 0);
	ck_assert_uint_eq(xlat_walks(), walks + 2);
	ck_assert_int_eq(evt_burst(0x4000000, &logged), 0);
	ck_assert_uint_eq(xlat_walks(), walks + 2);
	evt_drain_check(&el, 0x3000000);
	evt_drain_check(&el, 0x4000000);
	evt_drain_empty(&el);

	/* The log page itself: the kept translation must not be used. */
	ck_assert_int_eq(ioas_unmap(E.fd, E.ioas, EVT_GPA, PAGE, NULL), 0);
	memcpy(before, gva(EVT_GPA), PAGE);
	ck_assert_int_eq(evt_burst(0x5000000, &logged), -EFAULT);
	ck_assert_uint_eq(logged, 0);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN));
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	/* Four bursts went in: the 256-entry log's tail is back at 0. */
	ck_assert_uint_eq(stats().last_fault_gpa, EVT_GPA);
	ck_assert_uint_eq(stats().dropped[AMD_RING_EVT], 64);
	ck_assert_uint_eq(reg(AMD_VF_EVT_TAIL), 0);
	ck_assert_int_eq(memcmp(before, gva(EVT_GPA), PAGE), 0);
	/* Stopped: the next burst is dropped without touching memory. */
	ck_assert_int_eq(evt_burst(0x6000000, &logged), -EAGAIN);
	ck_assert_int_eq(memcmp(before, gva(EVT_GPA), PAGE), 0);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);

	/* Remapped to another page and restarted: that page is written. */
	ck_assert_int_eq(ioas_map_fixed(E.fd, E.ioas, E.ram + new_page * PAGE,
					PAGE, EVT_GPA), 0);
	control_toggle(CTL_EVT_LOG_EN);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_EVT_RUN);
	amd_guest_ring_init(&el, E.vf, AMD_RING_EVT, E.ram + new_page * PAGE,
			    8);
	walks = xlat_walks();
	ck_assert_int_eq(evt_burst(0x7000000, &logged), 0);
	ck_assert_uint_eq(logged, 64);
	ck_assert_uint_eq(xlat_walks(), walks + 1);
	ck_assert_int_eq(evt_burst(0x8000000, &logged), 0);
	ck_assert_uint_eq(xlat_walks(), walks + 1);
	ck_assert_int_eq(memcmp(before, gva(EVT_GPA), PAGE), 0);
	evt_drain_check(&el, 0x7000000);
	evt_drain_check(&el, 0x8000000);
	evt_drain_empty(&el);
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(ring_faults, 1);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	env_teardown();
}
END_TEST

/* ------------------------------------------------ faults and requests */

START_TEST(page_request_paths)
{
	struct amd_guest_ring el, pl;
	struct iommu_hwpt_amd_guest g;
	struct isim_device *mockdev;
	struct amd_entry e;
	struct amd_event ev;
	uint32_t pt, nopprs, mock_id;
	uint64_t ring_faults, dma_faults;
	uint8_t buf[8];
	int rc;

	env_setup(NULL, false, true, true);
	ring(&el, AMD_RING_EVT, EVT_GPA);
	ring(&pl, AMD_RING_PPR, PPR_GPA);
	ck_assert_int_eq(isim_device_page_request(E.dev, 1 << 20, 0x1000,
						  ISIM_PRQ_PASID, 1), -EINVAL);
	ck_assert_int_eq(isim_device_page_request(E.dev, 1, 0x1000, 1u << 9,
						  1), -EINVAL);
	ck_assert_int_eq(isim_device_page_request(E.dev, 1, 0x1000, 0, 512),
			 -EINVAL);
	/* The mock IOMMU takes no page requests. */
	ck_assert_int_eq(isim_device_add(E.m, NULL, "mock0", &mockdev), 0);
	ck_assert_int_eq(isim_device_page_request(mockdev, 1, 0x1000, 0, 1),
			 -EOPNOTSUPP);
	ck_assert_int_eq(isim_device_bind(E.fd, mockdev, &mock_id), 0);
	ck_assert_int_eq(isim_device_unbind(E.fd, mock_id), 0);

	/* Row 30: PPREn off. */
	control(CTL_ALL & ~CTL_PPR_EN);
	ck_assert_int_eq(isim_device_page_request(E.dev, 0x45, 0x5000,
						  ISIM_PRQ_READ |
							  ISIM_PRQ_PASID |
							  ISIM_PRQ_LAST,
						  0x21), -EAGAIN);
	ck_assert_int_eq(amd_guest_log_pop(&pl, &e, 0), -EAGAIN);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	amd_event_decode(&e, &ev);
	ck_assert_uint_eq(ev.code, AMD_EVT_INVALID_PPR_REQUEST);
	ck_assert_uint_eq(ev.devid, VIRT_ID);
	ck_assert_uint_eq(ev.pasid, 0x45);
	ck_assert_uint_eq(ev.tag & 0x1ff, 0x21);
	ck_assert_uint_eq(ev.addr, 0x5000);
	control(CTL_ALL);

	/* A guest DTE without PPR: the device may not ask. */
	gdte_make(&g, false);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_AMD_GUEST, &g,
					 sizeof(g), &nopprs),
			 0);
	pt = nopprs;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(isim_device_page_request(E.dev, 0, 0x6000,
						  ISIM_PRQ_READ, 3), -EAGAIN);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), 0);
	ck_assert_uint_eq(amd_entry_code(&e), AMD_EVT_INVALID_PPR_REQUEST);
	ck_assert_int_eq(amd_guest_log_pop(&pl, &e, 0), -EAGAIN);

	/* Not nested behind a vIOMMU: nowhere to log it, a host fault. */
	pt = E.parent;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(isim_device_page_request(E.dev, 0, 0x6000,
						  ISIM_PRQ_READ, 3), -ENODEV);
	ck_assert_int_eq(isim_dma(E.dev, 0xbad000, buf, 8, 0), -EFAULT);
	ck_assert_int_eq(amd_guest_log_pop(&el, &e, 0), -EAGAIN);
	ck_assert_int_eq(amd_viommu_host_faults(E.iommu, &ring_faults,
						&dma_faults), 0);
	ck_assert_uint_eq(dma_faults, 1);
	ck_assert_int_eq(isim_device_detach(E.fd, E.dev_id), 0);
	ck_assert_int_eq(isim_device_page_request(E.dev, 0, 0x6000,
						  ISIM_PRQ_READ, 3), -ENODEV);
	pt = E.nested;
	ck_assert_int_eq(isim_device_attach(E.fd, E.dev_id, &pt), 0);

	/* Row 31: a full PPR log. */
	for (unsigned i = 0; i < 255; i++)
		ck_assert_int_eq(isim_device_page_request(
					 E.dev, 7, 0x100000 + i * PAGE,
					 ISIM_PRQ_READ | ISIM_PRQ_PASID |
						 ISIM_PRQ_LAST,
					 (uint16_t)(i % 512)), 0);
	rc = isim_device_page_request(E.dev, 7, 0x1000,
				      ISIM_PRQ_READ | ISIM_PRQ_PASID, 300);
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert(amd_guest_status_read(E.vf) & AMD_STS_PPR_OVERFLOW);
	ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_PPR_RUN));
	ck_assert_uint_eq(stats().msi[AMD_IRQ_PPR], 256);
	ck_assert_int_eq(obj_destroy(E.fd, nopprs), 0);
	env_teardown();
}
END_TEST

/* Every fallible point of the AMD objects' creation unwinds cleanly. */
START_TEST(fail_nth_sweep)
{
	struct iommu_hwpt_amd_guest g;
	unsigned n;

	env_setup("gid_first=1,gid_last=1", false, false, false);
	gdte_make(&g, true);
	for (n = 1; n < 400; n++) {
		struct iommu_viommu_amd data = { 0 };
		uint32_t v = 0, vdev = 0, nested = 0, q[3] = { 0 }, pt;
		struct amd_hw *hw;
		int rc;

		isim_fail_nth_set(n);
		rc = amd_viommu_alloc(&data, &v);
		if (!rc)
			rc = vdev_alloc(E.fd, v, E.dev_id, VIRT_ID, &vdev);
		if (!rc)
			rc = hwpt_alloc_data(E.fd, E.dev_id, v, 0,
					     IOMMU_HWPT_DATA_AMD_GUEST, &g,
					     sizeof(g), &nested);
		for (int r = 0; r < 3 && !rc; r++)
			rc = hwq_alloc_full(0, v,
					    IOMMU_HW_QUEUE_TYPE_AMD_CMD + r, 0,
					    GPA_BASE + r * PAGE, 8, &q[r]);
		if (isim_fail_nth_get() == 0 && !rc)
			ck_abort_msg("n=%u: injected failure not reported", n);
		isim_fail_nth_set(0);
		if (v) {
			/* The single gid went back each time it failed. */
			ck_assert_int_eq(amd_viommu_model(E.fd, v, &hw), 0);
			ck_assert_uint_eq(amd_hw_config(hw)->gid, 1);
		}
		for (int r = 2; r >= 0; r--)
			if (q[r])
				ck_assert_int_eq(obj_destroy(E.fd, q[r]), 0);
		if (nested)
			ck_assert_int_eq(obj_destroy(E.fd, nested), 0);
		if (vdev)
			ck_assert_int_eq(obj_destroy(E.fd, vdev), 0);
		if (v)
			ck_assert_int_eq(obj_destroy(E.fd, v), 0);
		pt = E.parent;
		ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
		assert_invariants(E.m);
		if (!rc)
			break;
	}
	ck_assert_uint_gt(n, 3);
	ck_assert_uint_lt(n, 400);
	env_teardown();
}
END_TEST

/* ------------------------------------------------------------ threads */

#define STRESS_PAIRS	10000
#define STRESS_FAULTS	20000
#define STRESS_PRQS	3000
#define WAIT_NS		(60ull * 1000000000ull)

struct stress {
	struct amd_guest_ring cq, el, pl;
	pthread_mutex_t cmd_lock;	/* Linux's iommu->lock */
	atomic_bool faults_done, prqs_done;
	atomic_uint bad_head;
	atomic_ulong events, zero_codes, evt_restarts;
	atomic_ulong pprs, cpls, ppr_restarts;
	atomic_ulong ppr_logged;
	atomic_int failed;
};

static struct stress S;

/* Queue @n entries under the shared lock once there is room for them. */
static bool cmd_submit(const struct amd_cmd *c, unsigned n)
{
	uint64_t deadline = (uint64_t)time(NULL) + WAIT_NS / 1000000000ull;

	for (;;) {
		pthread_mutex_lock(&S.cmd_lock);
		if (amd_guest_cmd_space(&S.cq) >= n) {
			for (unsigned i = 0; i < n; i++)
				if (amd_guest_cmd_queue(&S.cq, &c[i], &fmt))
					atomic_store(&S.failed, 1);
			amd_guest_cmd_ring_tail(&S.cq);
			pthread_mutex_unlock(&S.cmd_lock);
			return true;
		}
		pthread_mutex_unlock(&S.cmd_lock);
		if (reg(AMD_VF_CMD_HEAD) >= 0x1000)
			atomic_fetch_add(&S.bad_head, 1);
		if ((uint64_t)time(NULL) > deadline)
			return false;
		sched_yield();
	}
}

/* Row 44: INV_DTE + COMPLETION_WAIT pairs with a semaphore each. */
static void *stress_producer(void *arg)
{
	uint64_t sem = SEM_GPA + 8 * (uintptr_t)arg;

	for (uint64_t seq = 1; seq <= STRESS_PAIRS; seq++) {
		struct amd_cmd c[2] = {
			{ .op = AMD_CMD_INV_DEVTAB_ENTRY,
			  .inv_dte = { .devid = (uint16_t)seq } },
			comp_wait(sem, seq, false),
		};

		if (!cmd_submit(c, 2)) {
			atomic_store(&S.failed, 2);
			return NULL;
		}
		if (seq % 64 == 0 &&
		    amd_guest_sem_wait(gva(sem), seq, WAIT_NS)) {
			atomic_store(&S.failed, 3);
			return NULL;
		}
	}
	if (amd_guest_sem_wait(gva(sem), STRESS_PAIRS, WAIT_NS))
		atomic_store(&S.failed, 4);
	return NULL;
}

static void *stress_faulter(void *arg)
{
	uint8_t buf[8];

	(void)arg;
	for (unsigned i = 0; i < STRESS_FAULTS; i++)
		if (isim_dma(E.dev, 0x40000000ull + (uint64_t)i * PAGE, buf, 8,
			     i & 1 ? ISIM_DMA_WRITE : 0) != -EFAULT)
			atomic_store(&S.failed, 5);
	atomic_store(&S.faults_done, true);
	return NULL;
}

static void *stress_requester(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < STRESS_PRQS; i++) {
		int rc = isim_device_page_request(E.dev, 9, (uint64_t)i * PAGE,
						  ISIM_PRQ_READ |
							  ISIM_PRQ_PASID |
							  ISIM_PRQ_LAST,
						  (uint16_t)(i % 512));

		if (!rc)
			atomic_fetch_add(&S.ppr_logged, 1);
		else if (rc != -ENOSPC && rc != -EAGAIN)
			atomic_store(&S.failed, 6);
		/* Give the guest a chance; the log overflows anyway. */
		if (i % 32 == 0)
			sched_yield();
	}
	atomic_store(&S.prqs_done, true);
	return NULL;
}

/*
 * Drain a log; on overflow with Run=0 (the default knob) drain what is
 * left, clear Overflow and toggle the enable, as amd_iommu_restart_log.
 */
static bool log_service(struct amd_guest_ring *g, uint64_t ovf, uint64_t run,
			uint64_t en, atomic_ulong *restarts,
			void (*handle)(const struct amd_entry *))
{
	struct amd_entry e;
	bool any = false;
	int rc;

	while ((rc = amd_guest_log_pop(g, &e, 100000)) != -EAGAIN) {
		if (rc) {
			atomic_store(&S.failed, 7);
			return any;
		}
		if (!amd_entry_code(&e))
			atomic_fetch_add(&S.zero_codes, 1);
		handle(&e);
		any = true;
	}
	uint64_t sts = amd_guest_status_read(E.vf);

	if (sts & ovf && !(sts & run)) {
		amd_guest_status_write(E.vf, ovf);
		control_toggle(en);
		atomic_fetch_add(restarts, 1);
		any = true;
	}
	return any;
}

static void evt_handle(const struct amd_entry *e)
{
	(void)e;
	atomic_fetch_add(&S.events, 1);
}

static void ppr_handle(const struct amd_entry *e)
{
	struct amd_ppr req;
	struct amd_cmd c;

	amd_ppr_decode(e, &req);
	atomic_fetch_add(&S.pprs, 1);
	c = (struct amd_cmd){
		.op = AMD_CMD_COMPLETE_PPR_REQUEST,
		.complete_ppr = { .devid = req.devid, .pasid = req.pasid,
				  .gn = true, .tag = req.prgi },
	};
	if (cmd_submit(&c, 1))
		atomic_fetch_add(&S.cpls, 1);
	else
		atomic_store(&S.failed, 8);
}

/* Refused page requests log INVALID_PPR_REQUEST events too. */
static void *stress_evt_consumer(void *arg)
{
	(void)arg;
	/*
	 * Row 45 at least once, whatever the threads' timing: the first
	 * drain waits until the log has filled and overflowed (far more
	 * faults are raised than the log holds).
	 */
	while (!(amd_guest_status_read(E.vf) & AMD_STS_EVT_OVERFLOW) &&
	       !atomic_load(&S.faults_done))
		sched_yield();
	while (!atomic_load(&S.faults_done) || !atomic_load(&S.prqs_done) ||
	       log_service(&S.el, AMD_STS_EVT_OVERFLOW, AMD_STS_EVT_RUN,
			   CTL_EVT_LOG_EN, &S.evt_restarts, evt_handle)) {
		/* Slower than the producer now and then (row 45). */
		if (!log_service(&S.el, AMD_STS_EVT_OVERFLOW, AMD_STS_EVT_RUN,
				 CTL_EVT_LOG_EN, &S.evt_restarts, evt_handle))
			sched_yield();
		else
			usleep(50);
	}
	return NULL;
}

static void *stress_ppr_consumer(void *arg)
{
	(void)arg;
	while (!atomic_load(&S.prqs_done) ||
	       log_service(&S.pl, AMD_STS_PPR_OVERFLOW, AMD_STS_PPR_RUN,
			   CTL_PPR_LOG_EN, &S.ppr_restarts, ppr_handle))
		if (!log_service(&S.pl, AMD_STS_PPR_OVERFLOW, AMD_STS_PPR_RUN,
				 CTL_PPR_LOG_EN, &S.ppr_restarts, ppr_handle))
			sched_yield();
	return NULL;
}

START_TEST(threaded_stress)
{
	pthread_t prod[2], flt, req, ec, pc;
	struct amd_cmd last;
	struct amd_hw_stats st;
	uint64_t n;
	char report[2048];

	env_setup(NULL, true, true, true);
	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.cmd_lock, NULL);
	ring(&S.cq, AMD_RING_CMD, CMD_GPA);
	ring(&S.el, AMD_RING_EVT, EVT_GPA);
	ring(&S.pl, AMD_RING_PPR, PPR_GPA);
	for (uintptr_t i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&prod[i], NULL,
						stress_producer, (void *)i), 0);
	ck_assert_int_eq(pthread_create(&flt, NULL, stress_faulter, NULL), 0);
	ck_assert_int_eq(pthread_create(&req, NULL, stress_requester, NULL),
			 0);
	ck_assert_int_eq(pthread_create(&ec, NULL, stress_evt_consumer, NULL),
			 0);
	ck_assert_int_eq(pthread_create(&pc, NULL, stress_ppr_consumer, NULL),
			 0);
	for (int i = 0; i < 2; i++)
		pthread_join(prod[i], NULL);
	pthread_join(flt, NULL);
	pthread_join(req, NULL);
	pthread_join(ec, NULL);
	pthread_join(pc, NULL);
	/* The last completions: a final barrier through the same queue. */
	last = comp_wait(SEM_GPA + 16, 1, false);
	ck_assert(cmd_submit(&last, 1));
	ck_assert_int_eq(amd_guest_sem_wait(gva(SEM_GPA + 16), 1, WAIT_NS), 0);

	ck_assert_int_eq(atomic_load(&S.failed), 0);
	ck_assert_uint_eq(sem_read(SEM_GPA), STRESS_PAIRS);
	ck_assert_uint_eq(sem_read(SEM_GPA + 8), STRESS_PAIRS);
	ck_assert_uint_eq(atomic_load(&S.bad_head), 0);
	ck_assert_uint_eq(atomic_load(&S.zero_codes), 0);
	st = stats();
	/*
	 * Every event logged was consumed, the rest were counted dropped:
	 * one per DMA fault and one per page request the PPR log refused.
	 */
	ck_assert_uint_eq(atomic_load(&S.events), st.logged[AMD_RING_EVT]);
	ck_assert_uint_eq(st.logged[AMD_RING_EVT] + st.dropped[AMD_RING_EVT],
			  STRESS_FAULTS + st.ppr_rejected);
	ck_assert_uint_gt(atomic_load(&S.evt_restarts), 0);
	ck_assert_uint_eq(atomic_load(&S.pprs), atomic_load(&S.ppr_logged));
	ck_assert_uint_eq(atomic_load(&S.cpls), atomic_load(&S.pprs));
	ck_assert_int_eq(amd_viommu_ppr_responses(E.dev, NULL, &n), 0);
	ck_assert_uint_eq(n, atomic_load(&S.cpls));
	ck_assert_uint_eq(st.cmd_illegal + st.cmd_hw_error, 0);
	ck_assert_uint_eq(st.cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY],
			  2 * STRESS_PAIRS);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	pthread_mutex_destroy(&S.cmd_lock);
	env_teardown();
}
END_TEST

/* Row 46: CmdBufEn 1->0 while the engine thread is mid-stream. */
START_TEST(threaded_disable_race)
{
	struct amd_guest_ring cq;
	uint64_t h1, h2;
	struct amd_hw_stats st;

	env_setup(NULL, true, true, true);
	ring(&cq, AMD_RING_CMD, CMD_GPA);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 200; i++) {
			while (amd_guest_cmd_queue(&cq, &(struct amd_cmd){
					.op = AMD_CMD_INV_IOMMU_ALL }, &fmt))
				sched_yield();
			amd_guest_cmd_ring_tail(&cq);
		}
		control(CTL_ALL & ~CTL_CMD_EN);
		ck_assert(!(amd_guest_status_read(E.vf) & AMD_STS_CMD_RUN));
		h1 = reg(AMD_VF_CMD_HEAD);
		amd_hw_stats(E.hw, &st);
		usleep(2000);
		h2 = reg(AMD_VF_CMD_HEAD);
		ck_assert_uint_eq(h1, h2);
		ck_assert_uint_lt(h2, 0x1000);
		/* Nothing executed after the disable returned. */
		ck_assert_uint_eq(stats().cmd_exec[AMD_CMD_INV_IOMMU_ALL],
				  st.cmd_exec[AMD_CMD_INV_IOMMU_ALL]);
		control(CTL_ALL);
	}
	env_teardown();
}
END_TEST

static Suite *amd_viommu_suite(void)
{
	Suite *s = suite_create("amd_viommu");
	TCase *tc = tcase_create("driver");
	TCase *tt = tcase_create("threads");

	tcase_add_test(tc, instance_settings);
	tcase_add_test(tc, hw_info_and_geometry);
	tcase_add_test(tc, viommu_alloc_rules);
	tcase_add_test(tc, nested_and_vdevice_rules);
	tcase_add_test(tc, hw_queue_errnos);
	tcase_add_test(tc, hw_queue_length_settings);
	tcase_add_test(tc, vfctrl_programming);
	tcase_add_test(tc, end_to_end);
	tcase_add_loop_test(tc, destroy_orders, 0, 7);
	tcase_add_test(tc, unmap_cmd_buffer_stepped);
	tcase_add_test(tc, batches_unmap_and_illegal);
	tcase_add_test(tc, ring_in_program_memory);
	tcase_add_test(tc, scattered_ring);
	tcase_add_test(tc, event_bursts);
	tcase_add_test(tc, xlat_cache_unmap);
	tcase_add_test(tc, page_request_paths);
	tcase_add_test(tc, fail_nth_sweep);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tcase_add_test(tt, unmap_cmd_buffer_threaded);
	tcase_add_test(tt, threaded_disable_race);
	tcase_add_test(tt, threaded_stress);
	tcase_set_timeout(tt, 600);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return run_suite(amd_viommu_suite());
}
