/*
 * The generic vSMMU part of the "tegra241-cmdqv" driver, which the kernel
 * shares with every SMMUv3 vIOMMU (arm-smmu-v3-iommufd.c): the VMID of
 * the stage-2 parent, nested domains, which take the guest's STE under
 * arm_vsmmu_alloc_domain_nested()'s rules, and the commands a guest may
 * not queue on a VCMDQ (CFGI_CD, NSNH_ALL, ...).  Those go to its
 * emulated main queue, which the VMM forwards as IOMMU_HWPT_INVALIDATE on
 * the vIOMMU: converted as arm_vsmmu_cache_invalidate() does (VMID and
 * SID forced to the VM's) and issued in batches to the host's main
 * queue, whose effect is the model's IOTLB and ATC.  A TEGRA241_CMDQV
 * vIOMMU (tegra241_cmdqv.c) starts with this part and names these ops in
 * its own; a plain ARM_SMMUV3 vIOMMU is this part alone, with the ops at
 * the end of this file (arm_vsmmu_ops): no VINTF, so no HW queue, no mmap
 * and no SID_MATCH slot, only the vSID a vDEVICE records.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"
#include "sim/machine.h"
#include "vendors/nvidia/cmdqv_cache.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"
#include "vendors/nvidia/tegra241_cmdqv_private.h"

#define BITS64(hi, lo)		((~0ull >> (63 - (hi))) & (~0ull << (lo)))

/* ----------------------------------------------------- the vSMMU part */

/* The stage-2 VMID of one nesting parent, shared by its vIOMMUs. */
struct cmdqv_vmid {
	struct cmdqv_vmid *next;
	const void *parent;
	uint16_t vmid;
	unsigned refs;
};

/*
 * The VMID belongs to the stage-2 domain (arm_vsmmu_init() takes it from
 * the nesting parent), so vIOMMUs on one parent share it.  Allocated
 * lowest-free from vmid_first, freed with the last vIOMMU using it.
 */
static int vmid_get(struct cmdqv_inst *inst, const void *parent,
		    uint16_t *vmid)
{
	struct cmdqv_vmid *e, *n;
	uint32_t want = inst->vmid_first;
	int rc = 0;

	pthread_mutex_lock(&inst->lock);
	for (e = inst->vmids; e; e = e->next)
		if (e->parent == parent)
			break;
	if (e) {
		e->refs++;
		*vmid = e->vmid;
		goto out;
	}
	/* The list is kept sorted by VMID: the first gap is the answer. */
	for (e = inst->vmids; e && e->vmid == want; e = e->next)
		want++;
	if (want > UINT16_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	n = isim_kzalloc(sizeof(*n));
	if (!n) {
		rc = -ENOMEM;
		goto out;
	}
	n->parent = parent;
	n->vmid = (uint16_t)want;
	n->refs = 1;
	if (!inst->vmids || inst->vmids->vmid > want) {
		n->next = inst->vmids;
		inst->vmids = n;
	} else {
		for (e = inst->vmids; e->next && e->next->vmid < want;
		     e = e->next)
			;
		n->next = e->next;
		e->next = n;
	}
	*vmid = n->vmid;
out:
	pthread_mutex_unlock(&inst->lock);
	return rc;
}

static void vmid_put(struct cmdqv_inst *inst, uint16_t vmid)
{
	struct cmdqv_vmid **pp, *e;

	pthread_mutex_lock(&inst->lock);
	for (pp = &inst->vmids; (e = *pp); pp = &e->next)
		if (e->vmid == vmid)
			break;
	if (!ISIM_WARN_ON(inst->m, !e) && !--e->refs) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&inst->lock);
}

/*
 * arm_vsmmu_init()'s share, before anything is taken: the vIOMMU will
 * carry the stage-2 parent's VMID, which only means something on the
 * SMMU that owns that domain.  The core checked only that the HWPT is a
 * nesting parent, not whose.
 */
int tegra241_vsmmu_init(struct cmdqv_vsmmu *vsmmu)
{
	struct iommufd_viommu *viommu = &vsmmu->core;
	struct cmdqv_inst *inst = isim_iommu_priv(viommu->iommu);
	int rc;

	if (viommu->hwpt->common.iommu != viommu->iommu)
		return -EINVAL;
	rc = vmid_get(inst, viommu->hwpt, &vsmmu->vmid);
	if (rc)
		return rc;
	vsmmu->inst = inst;
	vsmmu->s2_parent = viommu->hwpt;
	atomic_init(&vsmmu->inv_cmds, 0);
	atomic_init(&vsmmu->inv_batches, 0);
	isim_trace(&inst->m->trace, "cmdqv.vsmmu", "viommu=%u type=%u vmid=%#x",
		   viommu->obj.id, viommu->type, vsmmu->vmid);
	return 0;
}

void tegra241_vsmmu_deinit(struct cmdqv_vsmmu *vsmmu)
{
	vmid_put(vsmmu->inst, vsmmu->vmid);
}

/* ------------------------------------------------------ nested domains */

/*
 * The STE fields a guest may set in a nested domain's STE words 0 and 1
 * (arm-smmu-v3.h, STRTAB_STE_{0,1}_NESTING_ALLOWED): validity, config,
 * its CD table and the stage-1 attributes.  Everything else in the
 * physical STE (stage 2, VMID, stream world) belongs to the host.
 */
#define STE0_V			BITS64(0, 0)
#define STE0_CFG_SHIFT		1
#define STE0_CFG		BITS64(3, 1)
#define STE0_S1FMT		BITS64(5, 4)
#define STE0_S1CTXPTR		BITS64(51, 6)
#define STE0_S1CDMAX		BITS64(63, 59)
#define STE1_S1DSS		BITS64(1, 0)
#define STE1_S1CIR		BITS64(3, 2)
#define STE1_S1COR		BITS64(5, 4)
#define STE1_S1CSH		BITS64(7, 6)
#define STE1_S1STALLD		BITS64(27, 27)
#define STE1_EATS_SHIFT		28
#define STE1_EATS		BITS64(29, 28)
#define STE0_NESTING_ALLOWED \
	(STE0_V | STE0_CFG | STE0_S1FMT | STE0_S1CTXPTR | STE0_S1CDMAX)
#define STE1_NESTING_ALLOWED \
	(STE1_S1DSS | STE1_S1CIR | STE1_S1COR | STE1_S1CSH | \
	 STE1_S1STALLD | STE1_EATS)

enum { STE_CFG_ABORT = 0, STE_CFG_BYPASS = 4, STE_CFG_S1_TRANS = 5 };
enum { STE_EATS_ABT = 0, STE_EATS_TRANS = 1 };

/*
 * arm_smmu_validate_vste().  An STE without V means "no translation"
 * whatever else it holds, so it is kept as all zeros.  A valid one may
 * set only the guest's fields, must abort, bypass or translate stage 1
 * (stage 2 is the host's), and may ask for ATS fully or not at all.  EIO
 * is what the uAPI reserves for bad STE data.  EATS is taken out: the
 * host decides it when it builds the physical STE.
 */
static int vste_check(uint64_t ste[2], bool *enable_ats)
{
	unsigned cfg, eats;

	*enable_ats = false;
	if (!(ste[0] & STE0_V)) {
		ste[0] = ste[1] = 0;
		return 0;
	}
	if ((ste[0] & ~STE0_NESTING_ALLOWED) ||
	    (ste[1] & ~STE1_NESTING_ALLOWED))
		return -EIO;
	cfg = (unsigned)((ste[0] & STE0_CFG) >> STE0_CFG_SHIFT);
	if (cfg != STE_CFG_ABORT && cfg != STE_CFG_BYPASS &&
	    cfg != STE_CFG_S1_TRANS)
		return -EIO;
	eats = (unsigned)((ste[1] & STE1_EATS) >> STE1_EATS_SHIFT);
	if (eats != STE_EATS_ABT && eats != STE_EATS_TRANS)
		return -EIO;
	ste[1] &= ~STE1_EATS;
	/* Only a stage-1 STE has translations a device could cache. */
	*enable_ats = cfg == STE_CFG_S1_TRANS && eats == STE_EATS_TRANS;
	return 0;
}

/*
 * arm_vsmmu_alloc_domain_nested(): no flags (PASID included), the
 * IOMMU_HWPT_DATA_ARM_SMMUV3 data whole, then the STE rules above.
 */
int tegra241_vsmmu_alloc_domain_nested(struct iommufd_viommu *viommu,
				       uint32_t flags,
				       const struct iommu_user_data *data,
				       void **out)
{
	struct iommu_hwpt_arm_smmuv3 arg;
	struct cmdqv_nested *nested;
	uint64_t ste[2];
	bool ats;
	int rc;

	if (flags)
		return -EOPNOTSUPP;
	rc = iommu_copy_struct_from_user(data, &arg, IOMMU_HWPT_DATA_ARM_SMMUV3,
					 sizeof(arg), sizeof(arg.ste));
	if (rc)
		return rc;
	ste[0] = le64toh(arg.ste[0]);
	ste[1] = le64toh(arg.ste[1]);
	rc = vste_check(ste, &ats);
	if (rc)
		return rc;
	nested = isim_kzalloc(sizeof(*nested));
	if (!nested)
		return -ENOMEM;
	nested->vsmmu = to_vsmmu(viommu);
	nested->ste[0] = ste[0];
	nested->ste[1] = ste[1];
	nested->enable_ats = ats;
	*out = nested;
	isim_trace(&nested->vsmmu->inst->m->trace, "cmdqv.nested",
		   "viommu=%u ste0=%#llx ste1=%#llx ats=%d", viommu->obj.id,
		   (unsigned long long)ste[0], (unsigned long long)ste[1], ats);
	return 0;
}

void tegra241_vsmmu_free_domain_nested(struct iommufd_viommu *viommu,
				       void *nested)
{
	free(nested);
}

/* ------------------------------------------------ the trapped main queue */

/* The dword-0 fields the conversion rewrites (arm-smmu-v3.h CMDQ_*). */
#define CMD_OP(d0)		((unsigned)((d0) & 0xff))
#define CMD_VMID_SHIFT		32
#define CMD_VMID		BITS64(47, 32)
#define CMD_SID_SHIFT		32
#define CMD_SID			BITS64(63, 32)
/*
 * Converted commands go to the main queue this many at a time: a batch
 * holds CMDQ_BATCH_ENTRIES (64) entries and each ends with its CMD_SYNC.
 */
#define VSMMU_BATCH_CMDS	63u

/*
 * iommu_copy_struct_from_full_user_array(): the data type must match and
 * the array must not be empty; each entry follows copy_struct_from_user()
 * (a short one is zero-extended, a long one must be zero past 16 bytes).
 * Entries are little-endian; @cmds gets them in CPU order.
 */
static int copy_cmds(const struct iommu_user_data_array *array,
		     uint64_t (*cmds)[2])
{
	struct iommu_viommu_arm_smmuv3_invalidate inv;
	const char *u = array->uptr;
	size_t len = array->entry_len;
	int rc;

	if (array->type != IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 ||
	    !array->entry_num)
		return -EINVAL;
	for (uint32_t i = 0; i < array->entry_num; i++) {
		rc = isim_copy_struct_from_user(&inv, sizeof(inv),
						u + (size_t)i * len, len);
		if (rc)
			return rc;
		cmds[i][0] = le64toh(inv.cmd[0]);
		cmds[i][1] = le64toh(inv.cmd[1]);
	}
	return 0;
}

/* The stream ID behind vDEVICE @vsid of this vIOMMU (arm_vsmmu_vsid_to_sid). */
static int vsid_to_sid(struct cmdqv_vsmmu *vs, uint32_t vsid, uint32_t *sid)
{
	struct isim_device *dev = iommufd_viommu_find_dev(&vs->core, vsid);

	if (!dev)
		return -EIO;
	/* The vDEVICE's init gave the device its SID: this only reads it. */
	return tegra241_cmdqv_dev_sid(vs->inst, dev, sid) ? -EIO : 0;
}

/*
 * arm_vsmmu_convert_user_cmd(): what the guest wrote must not reach
 * beyond its VM.  TLBIs get the VM's VMID whatever the guest put there; a
 * global NSNH_ALL shrinks to NH_ALL of that VMID; ATC_INV and the CD
 * invalidations name a vSID, which must be one of this vIOMMU's vDEVICEs
 * and becomes its physical SID.  No other opcode may come this way.
 */
static int vsmmu_convert(struct cmdqv_vsmmu *vs, uint64_t cmd[2])
{
	uint64_t vmid = (uint64_t)vs->vmid << CMD_VMID_SHIFT;
	uint32_t sid;

	switch (CMD_OP(cmd[0])) {
	case ISIM_SMMU_OP_TLBI_NSNH_ALL:
		cmd[0] = ISIM_SMMU_OP_TLBI_NH_ALL | vmid;
		cmd[1] = 0;
		return 0;
	case ISIM_SMMU_OP_TLBI_NH_ALL:
	case ISIM_SMMU_OP_TLBI_NH_ASID:
	case ISIM_SMMU_OP_TLBI_NH_VA:
	case ISIM_SMMU_OP_TLBI_NH_VAA:
		cmd[0] = (cmd[0] & ~CMD_VMID) | vmid;
		return 0;
	case ISIM_SMMU_OP_ATC_INV:
	case ISIM_SMMU_OP_CFGI_CD:
	case ISIM_SMMU_OP_CFGI_CD_ALL:
		if (vsid_to_sid(vs, (uint32_t)(cmd[0] >> CMD_SID_SHIFT), &sid))
			return -EIO;
		cmd[0] = (cmd[0] & ~CMD_SID) | (uint64_t)sid << CMD_SID_SHIFT;
		return 0;
	default:
		return -EIO;
	}
}

/*
 * One batch and its CMD_SYNC on the host's main queue: each command has
 * taken effect in the model's IOTLB or ATC when this returns.  The model
 * keeps no CD cache, so CFGI_CD(_ALL) is only counted and traced.  An
 * ATC_INV that times out does not fail the batch: the host's error
 * handler leaves an ATC_INV_SYNC error to a retried CMD_SYNC, so only the
 * trace shows it.
 */
static void vsmmu_issue(struct cmdqv_vsmmu *vs, uint64_t (*cmds)[2],
			uint32_t n)
{
	struct cmdqv_cache *cache = cmdqv_cache_of(vs->inst->hw);

	for (uint32_t i = 0; i < n; i++) {
		struct isim_smmu_cmd c;
		bool timeout = false;

		/* Every opcode vsmmu_convert() lets through decodes. */
		(void)isim_smmu_cmd_decode(cmds[i], &c);
		if (c.op == ISIM_SMMU_OP_ATC_INV)
			timeout = cmdqv_cache_atc_inv(cache, &c);
		else
			cmdqv_cache_tlbi(cache, &c);
		isim_trace(&vs->inst->m->trace, "cmdqv.invalidate",
			   "viommu=%u op=%s d0=%#llx d1=%#llx timeout=%d",
			   vs->core.obj.id, isim_smmu_op_name(c.op),
			   (unsigned long long)cmds[i][0],
			   (unsigned long long)cmds[i][1], timeout);
	}
	atomic_fetch_add(&vs->inv_cmds, n);
	atomic_fetch_add(&vs->inv_batches, 1);
}

/*
 * arm_vsmmu_cache_invalidate(): the whole array is read first (a bad
 * entry fails the call with nothing done), then each command is converted
 * in order and issued in batches of VSMMU_BATCH_CMDS.  A command that
 * cannot be converted ends the call before its batch goes out: the ones
 * ahead of it in that batch are dropped, yet entry_num counts them, as
 * upstream's does.  An allocation failure leaves entry_num as given.
 */
int tegra241_vsmmu_cache_invalidate(struct iommufd_viommu *viommu,
				    struct iommu_user_data_array *array)
{
	struct cmdqv_vsmmu *vs = to_vsmmu(viommu);
	uint32_t n = array->entry_num, cur = 0, last = 0;
	uint64_t (*cmds)[2] = NULL;
	int rc;

	/* kcalloc(0) cannot fail; copy_cmds() refuses the empty array. */
	if (n) {
		cmds = isim_kvcalloc(n, sizeof(*cmds));
		if (!cmds)
			return -ENOMEM;
	}
	rc = copy_cmds(array, cmds);
	while (!rc && cur < n) {
		rc = vsmmu_convert(vs, cmds[cur]);
		if (rc)
			break;
		cur++;
		if (cur < n && cur - last < VSMMU_BATCH_CMDS)
			continue;
		vsmmu_issue(vs, cmds + last, cur - last);
		last = cur;
	}
	array->entry_num = cur;
	free(cmds);
	return rc;
}

/* ------------------------------------------- the plain SMMUv3 vIOMMU */

static void vsmmu_viommu_destroy(struct iommufd_viommu *viommu)
{
	struct cmdqv_vsmmu *vs = to_vsmmu(viommu);

	tegra241_vsmmu_deinit(vs);
	isim_trace(&vs->inst->m->trace, "cmdqv.viommu_destroy",
		   "viommu=%u vintf=none", viommu->obj.id);
}

/*
 * The core's vDEVICE table is the vSID record the conversion reads; the
 * only driver step is to give the device its stream ID now, so that the
 * lookup in vsid_to_sid() never has to allocate.  No VINTF, so no
 * SID_MATCH slot to program.
 */
static int vsmmu_vdevice_init(struct iommufd_vdevice *vdev)
{
	uint32_t psid;

	return tegra241_cmdqv_dev_sid(to_vsmmu(vdev->viommu)->inst,
				      vdev->idev->dev, &psid);
}

/*
 * arm_vsmmu_ops: nested domains and invalidation only.  Without
 * get_hw_queue_size the core refuses HW_QUEUE_ALLOC on this vIOMMU.
 * The destroy op is the simulator's: its VMID is held per vIOMMU.
 */
const struct iommufd_viommu_ops tegra241_vsmmu_viommu_ops = {
	.destroy = vsmmu_viommu_destroy,
	.alloc_domain_nested = tegra241_vsmmu_alloc_domain_nested,
	.free_domain_nested = tegra241_vsmmu_free_domain_nested,
	.cache_invalidate = tegra241_vsmmu_cache_invalidate,
	.vdevice_size = sizeof(struct iommufd_vdevice),
	.vdevice_init = vsmmu_vdevice_init,
};
