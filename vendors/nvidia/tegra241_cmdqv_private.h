/*
 * The state of the "tegra241-cmdqv" driver shared by
 * vendors/nvidia/tegra241_cmdqv.c (the driver: instance, vEVENTs, the
 * VINTF vIOMMU and its vDEVICEs), tegra241_cmdqv_queue.c (the HW queue
 * ops), tegra241_cmdqv_vsmmu.c (the generic vSMMU part: VMIDs, nested
 * domains, IOMMU_HWPT_INVALIDATE and the plain SMMUv3 vIOMMU) and
 * tegra241_cmdqv_vmm.c (the VMM-side calls) and by nothing else: the
 * IOMMU instance, the two vIOMMU kinds, their nested domains and the
 * guest VCMDQ, the driver symbols the other files need, and the
 * declarations of the VMM-side calls.
 */
#ifndef ISIM_NVIDIA_TEGRA241_CMDQV_PRIVATE_H
#define ISIM_NVIDIA_TEGRA241_CMDQV_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/iommufd/iommufd_private.h"
#include "vendors/nvidia/cmdqv_hw.h"

struct cmdqv_vmid;

/* One IOMMU instance: the SMMU with its CMDQV. */
struct cmdqv_inst {
	struct isim_machine *m;
	struct isim_cmdqv *hw;
	unsigned num_vintfs, per_vintf, num_sids;
	uint16_t vmid_first;		/* lowest VMID handed out */
	uint32_t sid_next;		/* next pSID given to a device */

	pthread_mutex_t lock;		/* everything below; see file comment */
	struct cmdqv_vintf **vintfs;	/* by VINTF index; [0] the host's */
	struct cmdqv_vmid *vmids;
};

/*
 * The generic vSMMU part of every vIOMMU of this driver (the kernel's
 * struct arm_vsmmu): the instance, the stage-2 parent and its VMID, and
 * what IOMMU_HWPT_INVALIDATE issued.  A plain IOMMU_VIOMMU_TYPE_ARM_SMMUV3
 * vIOMMU is only this; a VINTF starts with it, so the nested-domain and
 * invalidation ops take either.
 */
struct cmdqv_vsmmu {
	struct iommufd_viommu core;
	struct cmdqv_inst *inst;
	struct iommufd_hwpt_paging *s2_parent;
	uint16_t vmid;

	/* IOMMU_HWPT_INVALIDATE: commands and batches issued for the guest. */
	atomic_ulong inv_cmds;
	atomic_ulong inv_batches;
};

/* A TEGRA241_CMDQV vIOMMU: one user-owned VINTF (struct tegra241_vintf). */
struct cmdqv_vintf {
	struct cmdqv_vsmmu vsmmu;
	struct isim_cmdqv_vintf *v;
	struct isim_hw_model model;
	unsigned idx;
	uint64_t mmap_offset;

	pthread_mutex_t lvcmdq_mutex;	/* lvcmdqs[], sid_slots */
	struct cmdqv_vcmdq **lvcmdqs;
	uint32_t sid_slots;		/* SID_MATCH/REPLACE pairs in use */

	/* vEVENTs handed to the core, and those it had no queue for. */
	atomic_ulong events_reported;
	atomic_ulong events_dropped;
};

/*
 * A nested (stage-1) domain on a vIOMMU (struct arm_smmu_nested_domain):
 * the guest's STE words 0-1 as accepted, in CPU order, EATS cleared (the
 * host sets it in the physical STE), and whether they asked for ATS.
 */
struct cmdqv_nested {
	struct cmdqv_vsmmu *vsmmu;
	uint64_t ste[2];
	bool enable_ats;
};

/* A guest VCMDQ (struct tegra241_vcmdq): LVCMDQ lidx of its VINTF. */
struct cmdqv_vcmdq {
	struct iommufd_hw_queue core;
	struct cmdqv_vintf *vintf;
	struct cmdqv_vcmdq *prev;
	uint16_t idx;		/* global VCMDQ index */
	uint16_t lidx;
};

extern const struct iommufd_viommu_ops tegra241_cmdqv_viommu_ops;
/* The plain SMMUv3 vIOMMU's ops (tegra241_cmdqv_vsmmu.c). */
extern const struct iommufd_viommu_ops tegra241_vsmmu_viommu_ops;
/* The driver itself (the core's list of drivers names it too). */
extern const struct isim_iommu_ops isim_tegra241_cmdqv_iommu_ops;

/*
 * The driver's calls for the VMM side and for tests and benchmarks.  This
 * file has no header, so callers repeat these declarations.
 */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out);
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out);
int tegra241_cmdqv_viommu_events(struct isim_fd *fd, uint32_t viommu_id,
				 uint64_t *reported, uint64_t *dropped);
int tegra241_cmdqv_device_sid(struct isim_device *dev, uint32_t *sid);
int tegra241_cmdqv_nested_ste(struct isim_fd *fd, uint32_t hwpt_id,
			      uint64_t ste[2], bool *enable_ats);
int tegra241_cmdqv_viommu_invalidations(struct isim_fd *fd,
					uint32_t viommu_id, uint64_t *cmds,
					uint64_t *batches);

static inline struct cmdqv_vsmmu *to_vsmmu(struct iommufd_viommu *viommu)
{
	return (struct cmdqv_vsmmu *)viommu;
}

static inline struct cmdqv_vintf *to_vintf(struct iommufd_viommu *viommu)
{
	return (struct cmdqv_vintf *)viommu;
}

static inline struct cmdqv_vcmdq *to_vcmdq(struct iommufd_hw_queue *hwq)
{
	return (struct cmdqv_vcmdq *)hwq;
}

static inline unsigned ilog2u(unsigned v)
{
	unsigned l = 0;

	while (v >>= 1)
		l++;
	return l;
}

/* The device's stream ID, given on first use (firmware's job for real). */
int tegra241_cmdqv_dev_sid(struct cmdqv_inst *inst, struct isim_device *dev,
			   uint32_t *sid);

/* The vIOMMU's HW queue ops (tegra241_cmdqv_queue.c). */
size_t tegra241_cmdqv_get_hw_queue_size(struct iommufd_viommu *viommu,
					unsigned type);
int tegra241_cmdqv_hw_queue_init_phys(struct iommufd_hw_queue *hw_queue,
				      uint32_t lidx, uint64_t base_pa);
/*
 * The generic vSMMU part (tegra241_cmdqv_vsmmu.c).  Init is
 * arm_vsmmu_init()'s share: the parent must be this SMMU's, and the
 * vIOMMU takes its VMID; deinit gives the VMID back.  The ops below serve
 * both vIOMMU types.
 */
int tegra241_vsmmu_init(struct cmdqv_vsmmu *vsmmu);
void tegra241_vsmmu_deinit(struct cmdqv_vsmmu *vsmmu);
int tegra241_vsmmu_alloc_domain_nested(struct iommufd_viommu *viommu,
				       uint32_t flags,
				       const struct iommu_user_data *data,
				       void **out);
void tegra241_vsmmu_free_domain_nested(struct iommufd_viommu *viommu,
				       void *nested);
int tegra241_vsmmu_cache_invalidate(struct iommufd_viommu *viommu,
				    struct iommu_user_data_array *array);

#endif
