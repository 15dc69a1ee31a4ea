/*
 * The "tegra241-cmdqv" IOMMU driver: an SMMUv3 with NVIDIA's CMDQV
 * extension, on the iommufd driver interface, as
 * drivers/iommu/arm/arm-smmu-v3/tegra241-cmdqv.c drives the hardware for
 * user space.  One IOMMU instance owns one CMDQV model (cmdqv_hw.h) whose
 * memory is the machine's physical memory.  VINTF0 belongs to the host;
 * every vIOMMU of type TEGRA241_CMDQV takes one free VINTF, tagged with the
 * VMID of its nesting parent and HYP_OWN=0, and hands the VINTF's logical
 * page0 to user space through the iommufd mmap.  A vIOMMU of the plain
 * ARM_SMMUV3 type (what a VMM asks for without CMDQV acceleration) is
 * only the generic vSMMU part: no VINTF, no HW queue, no mmap.
 * IOMMU_HW_QUEUE_ALLOC is the physically addressed variant: the core pins
 * the guest's queue and checks contiguity, and hw_queue_init_phys here
 * applies the driver's own checks (spec nvidia_cmdqv.md §4.2 D1-D8), maps
 * the LVCMDQ and programs BASE with the host PA.  The guest enables and
 * drives the queue itself through the mapped page; the model consumes it,
 * stepped by isim_hw_run or on one thread per VINTF on a threaded
 * machine, and its errors come back to the VMM as
 * IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV events carrying the VINTF's LVCMDQ
 * error map.  vDEVICEs fill the VINTF's SID_MATCH / SID_REPLACE pairs so
 * guest ATC_INVs reach the physical stream.
 *
 * The SMMUv3 underneath is reduced to what this driver needs: its ID
 * registers for GET_HW_INFO, a stage-2 paging domain geometry, a VMID per
 * nesting parent and a stream ID per device.  Commands a guest may not
 * put on a VCMDQ reach the host as IOMMU_HWPT_INVALIDATE on the vIOMMU,
 * and nested (stage-1) domains are allocated on it, both with the generic
 * arm_vsmmu rules the kernel's Tegra241 vIOMMU shares with plain SMMUv3.
 * A nested domain keeps the guest's validated STE; the simulated attach
 * has no driver step, so its CFG does not change what a device's DMA
 * reaches (the nesting parent's stage 2 always translates).
 *
 * The HW queue ops are in tegra241_cmdqv_queue.c; the vSMMU part (VMIDs,
 * nested domains, IOMMU_HWPT_INVALIDATE, the plain SMMUv3 vIOMMU's ops)
 * in tegra241_cmdqv_vsmmu.c; the VMM-side calls in
 * tegra241_cmdqv_vmm.c, the state these files share in
 * tegra241_cmdqv_private.h.
 *
 * Locks: a vIOMMU's lvcmdq_mutex comes before the model's VINTF lock
 * (queue and SID programming).  The machine's model lock, which
 * isim_hw_run holds across a step, comes before the VINTF lock and before
 * the instance lock; vEVENT delivery holds the instance lock across
 * iommufd_viommu_report_event so a vIOMMU cannot go away under it, and
 * nothing else is taken inside the instance lock.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/tegra241_cmdqv_private.h"

/* SMMU ID register fields reported through GET_HW_INFO (arm-smmu-v3.h). */
#define IDR0_S2P		(1u << 0)
#define IDR0_S1P		(1u << 1)
#define IDR0_TTF_AARCH64	(2u << 2)
#define IDR0_COHACC		(1u << 4)
#define IDR0_ATS		(1u << 10)
#define IDR0_ASID16		(1u << 12)
#define IDR0_VMID16		(1u << 18)
#define IDR0_ST_LVL_2LVL	(1u << 27)
#define IDR1_CMDQS_SHIFT	21
#define IDR1_EVTQS_SHIFT	16
#define IDR1_SSIDSIZE_SHIFT	6
#define IDR3_RIL		(1u << 10)
#define IDR5_GRAN4K		(1u << 4)
#define IDR5_GRAN16K		(1u << 5)
#define IDR5_GRAN64K		(1u << 6)
#define IDR5_OAS_48_BIT		5u

#define SMMU_SID_BITS		20u	/* IDR1.SIDSIZE reported */
#define SMMU_SSID_BITS		20u	/* IDR1.SSIDSIZE reported */
#define SMMU_EVTQS		19u	/* IDR1.EVENTQS reported */
#define SMMU_IAS_BITS		48u	/* stage-2 input range */
#define VSID_FIELD_MASK		0xfffffu	/* SID_MATCH.VIRT_SID */
#define PSID_MAX		0xfffffu	/* SID_REPLACE.PHYS_SID */

/* Per device behind this IOMMU (dev->drvdata; the core frees it). */
struct cmdqv_dev {
	uint32_t sid;
};

/* A vDEVICE: one SID_MATCH/SID_REPLACE pair (struct tegra241_vintf_sid). */
struct cmdqv_vsid {
	struct iommufd_vdevice core;
	struct cmdqv_vintf *vintf;
	uint32_t sid;
	uint8_t idx;
};

/* ------------------------------------------------------------ instance */

static int parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	char buf[24], *end;
	unsigned long v;

	if (!len || len >= sizeof(buf) || *s == '-')
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * "k=v,...": vmid_first and sid_first are the driver's (where the SMMU's
 * VMID and stream-ID numbering starts); every other key is the model's
 * (isim_cmdqv_config_parse: the shape and the §8 knobs).  The model's keys
 * are gathered into @rest, in order, for one parse of their own.
 */
static int inst_parse(struct cmdqv_inst *inst, const char *opts, char *rest)
{
	const char *p = opts;
	size_t used = 0;

	rest[0] = '\0';
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen, vlen;
		uint32_t v;

		if (!eq)
			return -EINVAL;
		klen = (size_t)(eq - p);
		vlen = len - klen - 1;
		if (klen == 10 && !memcmp(p, "vmid_first", 10)) {
			/* VMID 0 is never handed out, as the kernel's ida. */
			if (parse_u32(eq + 1, vlen, UINT16_MAX, &v) || !v)
				return -EINVAL;
			inst->vmid_first = (uint16_t)v;
		} else if (klen == 9 && !memcmp(p, "sid_first", 9)) {
			if (parse_u32(eq + 1, vlen, PSID_MAX, &v))
				return -EINVAL;
			inst->sid_next = v;
		} else {
			if (used)
				rest[used++] = ',';
			memcpy(rest + used, p, len);
			used += len;
			rest[used] = '\0';
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static int hw_pa_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
	return isim_machine_pa_read(ctx, pa, buf, len);
}

static int hw_pa_write(void *ctx, uint64_t pa, const void *buf, size_t len)
{
	return isim_machine_pa_write(ctx, pa, buf, len);
}

static void cmdqv_report(void *arg, unsigned vintf_id,
			 const uint64_t lvcmdq_err_map[2]);

static int cmdqv_probe(struct isim_iommu *iommu, const char *opts)
{
	struct isim_machine *m = isim_iommu_machine(iommu);
	const struct isim_hw_mem mem = { hw_pa_read, hw_pa_write, m };
	struct isim_cmdqv_config cfg;
	struct isim_cmdqv_vintf *v0;
	struct cmdqv_inst *inst;
	char *rest = NULL;
	int rc;

	inst = isim_kzalloc(sizeof(*inst));
	if (!inst)
		return -ENOMEM;
	inst->m = m;
	inst->vmid_first = 1;
	/* Stream IDs of the devices, handed out in order of first use. */
	inst->sid_next = 0x100;
	rc = -ENOMEM;
	rest = isim_kzalloc(opts ? strlen(opts) + 1 : 1);
	if (!rest)
		goto err_free;
	rc = inst_parse(inst, opts, rest);
	if (rc)
		goto err_free;
	isim_cmdqv_config_default(&cfg);
	rc = isim_cmdqv_config_parse(&cfg, rest);
	if (rc)
		goto err_free;
	rc = isim_cmdqv_new(&cfg, &mem, &inst->hw);
	if (rc)
		goto err_free;
	inst->num_vintfs = isim_cmdqv_num_vintfs(inst->hw);
	inst->per_vintf = isim_cmdqv_lvcmdqs_per_vintf(inst->hw);
	inst->num_sids = cfg.sids_per_vintf;
	rc = -ENOMEM;
	inst->vintfs = isim_kcalloc(inst->num_vintfs, sizeof(*inst->vintfs));
	if (!inst->vintfs)
		goto err_hw;
	pthread_mutex_init(&inst->lock, NULL);
	isim_cmdqv_set_report(inst->hw, cmdqv_report, inst);

	/*
	 * tegra241_cmdqv_hw_reset(): CMDQV enabled, the static CMDQ_ALLOC
	 * assignment (the model's reset value), VINTF0 up for the host with
	 * HYP_OWN=1.  The host never queues on it here: the kernel's own
	 * invalidations are not part of the simulation.
	 */
	isim_cmdqv_enable(inst->hw, true);
	v0 = isim_cmdqv_vintf(inst->hw, 0);
	isim_cmdqv_vintf_deinit(v0);
	isim_cmdqv_vintf_configure(v0, 0, true);
	isim_cmdqv_vintf_enable(v0, true);
	free(rest);
	isim_iommu_set_priv(iommu, inst);
	return 0;

err_hw:
	isim_cmdqv_free(inst->hw);
err_free:
	free(rest);
	free(inst);
	return rc;
}

static void cmdqv_release(struct isim_iommu *iommu)
{
	struct cmdqv_inst *inst = isim_iommu_priv(iommu);

	if (!inst)
		return;
	/* Every context is closed: no vIOMMU, hence no VMID, is left. */
	ISIM_WARN_ON(inst->m, inst->vmids != NULL);
	isim_cmdqv_free(inst->hw);
	pthread_mutex_destroy(&inst->lock);
	free(inst->vintfs);
	free(inst);
	isim_iommu_set_priv(iommu, NULL);
}

/*
 * GET_HW_INFO as arm_smmu_hw_info() answers it: the SMMUv3 ID registers
 * by default, the CMDQV's PARAM fields when user space asks for type
 * TEGRA241_CMDQV (tegra241_cmdqv_hw_info()), nothing else.
 */
static int cmdqv_hw_info(struct isim_device *dev, unsigned in_type,
			 void *data, size_t *len, unsigned *out_type,
			 uint64_t *caps, uint8_t *max_pasid_log2)
{
	struct cmdqv_inst *inst = isim_iommu_priv(isim_device_iommu(dev));
	const struct isim_cmdqv_config *cfg = isim_cmdqv_get_config(inst->hw);
	uint32_t ps = isim_machine_page_size(inst->m);

	*caps = 0;
	*max_pasid_log2 = (dev->flags & ISIM_DEV_PASID) ? SMMU_SSID_BITS : 0;
	if (in_type == IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV) {
		struct iommu_hw_info_tegra241_cmdqv info = {
			.version = ISIM_CMDQV_PARAM_VER(isim_cmdqv_param(inst->hw)),
			.log2vcmdqs = (uint8_t)ilog2u(inst->per_vintf),
			.log2vsids = (uint8_t)ilog2u(inst->num_sids),
		};

		memcpy(data, &info, sizeof(info));
		*len = sizeof(info);
		*out_type = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV;
		return 0;
	}
	if (in_type == IOMMU_HW_INFO_TYPE_DEFAULT ||
	    in_type == IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
		/* IIDR and AIDR are not modelled and read as zero. */
		struct iommu_hw_info_arm_smmuv3 info = {
			.idr[0] = IDR0_S2P | IDR0_S1P | IDR0_TTF_AARCH64 |
				  IDR0_COHACC | IDR0_ATS | IDR0_ASID16 |
				  IDR0_VMID16 | IDR0_ST_LVL_2LVL,
			.idr[1] = cfg->cmdqs << IDR1_CMDQS_SHIFT |
				  SMMU_EVTQS << IDR1_EVTQS_SHIFT |
				  SMMU_SSID_BITS << IDR1_SSIDSIZE_SHIFT |
				  SMMU_SID_BITS,
			.idr[3] = IDR3_RIL,
			.idr[5] = (ps == 4096 ? IDR5_GRAN4K :
				   ps == 16384 ? IDR5_GRAN16K : IDR5_GRAN64K) |
				  IDR5_OAS_48_BIT,
		};

		memcpy(data, &info, sizeof(info));
		*len = sizeof(info);
		*out_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
		return 0;
	}
	return -EOPNOTSUPP;
}

/*
 * The stage-2 table of the machine's granule with its block sizes (4K:
 * 2M and 1G; 16K: 32M; 64K: 512M) over a 48-bit input range.  No HTTU is
 * advertised, so dirty tracking is refused as the kernel would.
 */
static int cmdqv_paging_geometry(struct isim_device *dev, uint32_t flags,
				 uint64_t *pgsize_bitmap, uint64_t *start,
				 uint64_t *last)
{
	uint64_t ps = isim_machine_page_size(dev->m);

	if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
		return -EOPNOTSUPP;
	if (ps == 4096)
		*pgsize_bitmap = ps | 1ull << 21 | 1ull << 30;
	else if (ps == 16384)
		*pgsize_bitmap = ps | 1ull << 25;
	else
		*pgsize_bitmap = ps | 1ull << 29;
	*start = 0;
	*last = (1ull << SMMU_IAS_BITS) - 1;
	return 0;
}

/* ------------------------------------------------------------ vEVENTs */

/*
 * The CMDQV interrupt for a user VINTF (tegra241_vintf_user_handle_error):
 * the VINTF's LVCMDQ_ERR_MAP goes to the VMM as it stands, little-endian.
 * The host acknowledges nothing; the guest does, through its page.  With
 * no vEVENTQ of this type the event is dropped and only counted.
 */
static void cmdqv_report(void *arg, unsigned vintf_id,
			 const uint64_t lvcmdq_err_map[2])
{
	struct cmdqv_inst *inst = arg;
	struct iommu_vevent_tegra241_cmdqv ev = {
		.lvcmdq_err_map = { htole64(lvcmdq_err_map[0]),
				    htole64(lvcmdq_err_map[1]) },
	};
	struct cmdqv_vintf *vi;
	int rc;

	pthread_mutex_lock(&inst->lock);
	vi = vintf_id < inst->num_vintfs ? inst->vintfs[vintf_id] : NULL;
	if (vi) {
		rc = iommufd_viommu_report_event(&vi->vsmmu.core,
						 IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV,
						 &ev, sizeof(ev));
		atomic_fetch_add(rc ? &vi->events_dropped :
				      &vi->events_reported, 1);
		isim_trace(&inst->m->trace, "cmdqv.vevent",
			   "viommu=%u vintf=%u map=%#llx:%#llx rc=%d",
			   vi->vsmmu.core.obj.id, vintf_id,
			   (unsigned long long)lvcmdq_err_map[1],
			   (unsigned long long)lvcmdq_err_map[0], rc);
	}
	pthread_mutex_unlock(&inst->lock);
}

/* ------------------------------------------------------------ the model */

/*
 * Each vIOMMU registers its VINTF with the machine: isim_hw_run steps it,
 * a threaded machine runs it on a thread of its own from VIOMMU_ALLOC to
 * destroy.  The host's VINTF0 carries no queues and is never stepped.
 */
static unsigned cmdqv_model_step(struct isim_hw_model *model, unsigned budget)
{
	return isim_cmdqv_vintf_step(((struct cmdqv_vintf *)model->priv)->v,
				     budget);
}

static int cmdqv_model_start(struct isim_hw_model *model)
{
	return isim_cmdqv_vintf_start(((struct cmdqv_vintf *)model->priv)->v);
}

static void cmdqv_model_stop(struct isim_hw_model *model)
{
	isim_cmdqv_vintf_stop(((struct cmdqv_vintf *)model->priv)->v);
}

/* ---------------------------------------------------------------- vIOMMU */

/*
 * arm_smmu_get_viommu_size(): this SMMU supports nesting, so the plain
 * SMMUv3 type is always offered; the CMDQV adds its own on top.
 */
static size_t cmdqv_get_viommu_size(struct isim_device *dev, unsigned type)
{
	if (type == IOMMU_VIOMMU_TYPE_ARM_SMMUV3)
		return sizeof(struct cmdqv_vsmmu);
	return type == IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV ?
		       sizeof(struct cmdqv_vintf) : 0;
}

/* Lowest free VINTF above the host's, as ida_alloc_max() from 1. */
static int vintf_alloc(struct cmdqv_inst *inst, struct cmdqv_vintf *vi)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&inst->lock);
	for (unsigned i = 1; i < inst->num_vintfs; i++) {
		if (inst->vintfs[i])
			continue;
		inst->vintfs[i] = vi;
		vi->idx = i;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&inst->lock);
	return rc;
}

static void vintf_free(struct cmdqv_inst *inst, struct cmdqv_vintf *vi)
{
	pthread_mutex_lock(&inst->lock);
	inst->vintfs[vi->idx] = NULL;
	pthread_mutex_unlock(&inst->lock);
}

/*
 * tegra241_cmdqv_destroy_vintf_user(): the mmap region goes, then the
 * VINTF is torn down as tegra241_vintf_hw_deinit() does it: every LVCMDQ
 * deinit and unmap from the highest index down, VINTF disabled, SID
 * tables cleared.  Each HW queue holds its vIOMMU, so none is normally
 * left here; any that is (a core bug) is torn down the same way.  The
 * vSMMU part goes last.
 */
static void cmdqv_viommu_destroy(struct iommufd_viommu *viommu)
{
	struct cmdqv_vintf *vi = to_vintf(viommu);
	struct cmdqv_inst *inst = vi->vsmmu.inst;

	/* Stops the VINTF's thread, or waits out a step in isim_hw_run. */
	isim_hw_unregister(inst->m, &vi->model);
	iommufd_viommu_destroy_mmap(viommu, vi->mmap_offset);
	pthread_mutex_lock(&vi->lvcmdq_mutex);
	for (unsigned lidx = inst->per_vintf; lidx-- > 0;)
		if (ISIM_WARN_ON(inst->m, vi->lvcmdqs[lidx]))
			vi->lvcmdqs[lidx] = NULL;
	isim_cmdqv_vintf_deinit(vi->v);
	pthread_mutex_unlock(&vi->lvcmdq_mutex);
	/* After this no report can find the vIOMMU. */
	vintf_free(inst, vi);
	tegra241_vsmmu_deinit(&vi->vsmmu);
	pthread_mutex_destroy(&vi->lvcmdq_mutex);
	free(vi->lvcmdqs);
	isim_trace(&inst->m->trace, "cmdqv.viommu_destroy",
		   "viommu=%u vintf=%u", viommu->obj.id, vi->idx);
}

/*
 * tegra241_cmdqv_init_vintf_user(), once the vSMMU part holds the VMID:
 * the uAPI data is required (its out fields are the point); a free VINTF
 * or the allocator's error; the VINTF reset and brought up with the
 * parent's VMID and HYP_OWN=0 but no LVCMDQ (queues come only from
 * HW_QUEUE_ALLOC); its page0 offered for mmap.
 */
static int vintf_init_user(struct cmdqv_vintf *vi,
			   const struct iommu_user_data *data)
{
	struct iommufd_viommu *viommu = &vi->vsmmu.core;
	struct cmdqv_inst *inst = vi->vsmmu.inst;
	struct isim_machine *m = inst->m;
	struct iommu_viommu_tegra241_cmdqv arg;
	int rc;

	if (ISIM_WARN_ON(m, viommu->type != IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV))
		return -EOPNOTSUPP;
	if (!data || !data->len)
		return -EINVAL;
	rc = iommu_copy_struct_from_user(data, &arg,
					 IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
					 sizeof(arg), sizeof(arg));
	if (rc)
		return rc;
	vi->lvcmdqs = isim_kcalloc(inst->per_vintf, sizeof(*vi->lvcmdqs));
	if (!vi->lvcmdqs)
		return -ENOMEM;
	/*
	 * Taking the slot also makes the VINTF's reports find this vIOMMU;
	 * none can come before its queues exist.
	 */
	rc = vintf_alloc(inst, vi);
	if (rc)
		goto err_free;
	vi->v = isim_cmdqv_vintf(inst->hw, vi->idx);
	pthread_mutex_init(&vi->lvcmdq_mutex, NULL);
	atomic_init(&vi->events_reported, 0);
	atomic_init(&vi->events_dropped, 0);

	/* tegra241_vintf_hw_init(vintf, false). */
	isim_cmdqv_vintf_deinit(vi->v);
	rc = isim_cmdqv_vintf_configure(vi->v, vi->vsmmu.vmid, false);
	if (rc)
		goto err_vintf;
	isim_cmdqv_vintf_enable(vi->v, true);

	rc = iommufd_viommu_alloc_mmap(viommu, isim_cmdqv_vintf_page0(vi->v),
				       ISIM_CMDQV_PAGE_SIZE, &vi->mmap_offset);
	if (rc)
		goto err_hw;
	arg.out_vintf_mmap_offset = vi->mmap_offset;
	arg.out_vintf_mmap_length = ISIM_CMDQV_PAGE_SIZE;
	rc = iommu_copy_struct_to_user(data, &arg,
				       IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
				       sizeof(arg));
	if (rc)
		goto err_mmap;

	vi->model = (struct isim_hw_model){
		.name = "tegra241-cmdqv",
		.step = cmdqv_model_step,
		.start = cmdqv_model_start,
		.stop = cmdqv_model_stop,
		.priv = vi,
	};
	rc = isim_hw_register(m, &vi->model);
	if (rc)
		goto err_mmap;
	isim_trace(&m->trace, "cmdqv.viommu",
		   "viommu=%u vintf=%u vmid=%#x mmap_offset=%#llx",
		   viommu->obj.id, vi->idx, vi->vsmmu.vmid,
		   (unsigned long long)vi->mmap_offset);
	viommu->ops = &tegra241_cmdqv_viommu_ops;
	return 0;

err_mmap:
	iommufd_viommu_destroy_mmap(viommu, vi->mmap_offset);
err_hw:
	isim_cmdqv_vintf_deinit(vi->v);
err_vintf:
	pthread_mutex_destroy(&vi->lvcmdq_mutex);
	vintf_free(inst, vi);
err_free:
	free(vi->lvcmdqs);
	vi->lvcmdqs = NULL;
	return rc;
}

/*
 * arm_vsmmu_init(): the vSMMU part first (the parent's SMMU, the VMID);
 * a plain SMMUv3 vIOMMU is then complete, with its user data ignored as
 * the kernel ignores it; a TEGRA241_CMDQV one goes on to its VINTF.
 */
static int cmdqv_viommu_init(struct iommufd_viommu *viommu,
			     const struct iommu_user_data *data)
{
	struct cmdqv_vsmmu *vsmmu = to_vsmmu(viommu);
	int rc;

	rc = tegra241_vsmmu_init(vsmmu);
	if (rc)
		return rc;
	if (viommu->type == IOMMU_VIOMMU_TYPE_ARM_SMMUV3) {
		viommu->ops = &tegra241_vsmmu_viommu_ops;
		return 0;
	}
	rc = vintf_init_user(to_vintf(viommu), data);
	if (rc)
		tegra241_vsmmu_deinit(vsmmu);
	return rc;
}

/* ------------------------------------------------------------ vDEVICEs */

/* The device's stream ID, given on first use (firmware's job for real). */
int tegra241_cmdqv_dev_sid(struct cmdqv_inst *inst, struct isim_device *dev,
			   uint32_t *sid)
{
	struct cmdqv_dev *st;
	int rc = 0;

	pthread_mutex_lock(&inst->lock);
	st = dev->drvdata;
	if (!st) {
		if (inst->sid_next > PSID_MAX) {
			rc = -ENOSPC;
			goto out;
		}
		st = isim_kzalloc(sizeof(*st));
		if (!st) {
			rc = -ENOMEM;
			goto out;
		}
		st->sid = inst->sid_next++;
		dev->drvdata = st;
	}
	*sid = st->sid;
out:
	pthread_mutex_unlock(&inst->lock);
	return rc;
}

static void cmdqv_vdevice_destroy(struct iommufd_vdevice *vdev)
{
	struct cmdqv_vsid *vsid = (struct cmdqv_vsid *)vdev;
	struct cmdqv_vintf *vi = vsid->vintf;

	pthread_mutex_lock(&vi->lvcmdq_mutex);
	isim_cmdqv_vintf_clear_sid(vi->v, vsid->idx);
	vi->sid_slots &= ~(1u << vsid->idx);
	pthread_mutex_unlock(&vi->lvcmdq_mutex);
}

/*
 * tegra241_vintf_init_vsid(): a free SID slot gets SID_REPLACE = pSID and
 * SID_MATCH = vSID << 1 | 1.  A virt_id above UINT_MAX is refused; one
 * wider than the 20-bit VIRT_SID field is programmed truncated, as the
 * kernel's 32-bit register write leaves it.
 */
static int cmdqv_vdevice_init(struct iommufd_vdevice *vdev)
{
	struct cmdqv_vintf *vi = to_vintf(vdev->viommu);
	struct cmdqv_vsid *vsid = (struct cmdqv_vsid *)vdev;
	uint32_t psid;
	unsigned slot;
	int rc;

	if (vdev->virt_id > UINT32_MAX)
		return -EINVAL;
	rc = tegra241_cmdqv_dev_sid(vi->vsmmu.inst, vdev->idev->dev, &psid);
	if (rc)
		return rc;
	pthread_mutex_lock(&vi->lvcmdq_mutex);
	for (slot = 0; slot < vi->vsmmu.inst->num_sids; slot++)
		if (!(vi->sid_slots & (1u << slot)))
			break;
	if (slot == vi->vsmmu.inst->num_sids) {
		rc = -ENOSPC;
		goto out;
	}
	rc = isim_cmdqv_vintf_set_sid(vi->v, slot,
				      (uint32_t)vdev->virt_id & VSID_FIELD_MASK,
				      psid);
	if (rc)
		goto out;
	vi->sid_slots |= 1u << slot;
	vsid->vintf = vi;
	vsid->sid = psid;
	vsid->idx = (uint8_t)slot;
	vdev->destroy = cmdqv_vdevice_destroy;
out:
	pthread_mutex_unlock(&vi->lvcmdq_mutex);
	return rc;
}

const struct iommufd_viommu_ops tegra241_cmdqv_viommu_ops = {
	.destroy = cmdqv_viommu_destroy,
	.alloc_domain_nested = tegra241_vsmmu_alloc_domain_nested,
	.free_domain_nested = tegra241_vsmmu_free_domain_nested,
	/* What a guest may not queue on its VCMDQs comes through here. */
	.cache_invalidate = tegra241_vsmmu_cache_invalidate,
	.vdevice_size = sizeof(struct cmdqv_vsid),
	.vdevice_init = cmdqv_vdevice_init,
	.get_hw_queue_size = tegra241_cmdqv_get_hw_queue_size,
	.hw_queue_init_phys = tegra241_cmdqv_hw_queue_init_phys,
};

const struct isim_iommu_ops isim_tegra241_cmdqv_iommu_ops = {
	.name = "tegra241-cmdqv",
	.probe = cmdqv_probe,
	.release = cmdqv_release,
	.hw_info = cmdqv_hw_info,
	.paging_geometry = cmdqv_paging_geometry,
	.get_viommu_size = cmdqv_get_viommu_size,
	.viommu_init = cmdqv_viommu_init,
};
