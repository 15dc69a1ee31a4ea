/*
 * The state of the "amd-viommu" driver shared by vendors/amd/amd_viommu.c
 * (the driver: instance, devices and faults, the model's guest memory and
 * callbacks, vIOMMU and nested domains), amd_viommu_queue.c (the HW queue
 * ops) and amd_viommu_vmm.c (the VMM-side calls of amd_viommu.h, which
 * have no ioctl) and by nothing else: the IOMMU instance, a device's
 * page-request state and the vIOMMU, the two driver symbols the VMM side
 * checks an object against to know it is one of ours, and the HW queue
 * ops the vIOMMU ops name.
 */
#ifndef ISIM_AMD_VIOMMU_PRIVATE_H
#define ISIM_AMD_VIOMMU_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/iommufd/iommufd_private.h"
#include "vendors/amd/amd_hw.h"

struct amd_hw_queue;

/* One IOMMU instance. */
struct amd_iommu_inst {
	struct isim_machine *m;
	/* The settings every new vIOMMU's model starts from (§8 knobs). */
	struct amd_hw_config tmpl;
	uint64_t efr2;
	uint16_t gid_first, gid_last;	/* guest IDs handed out */
	uint16_t trans_devid_top;	/* translate DeviceIDs count down */
	bool gpt_5level;		/* host takes 5-level guest tables */

	pthread_mutex_t lock;		/* gid_map and devices' drvdata */
	uint64_t gid_map[65536 / 64];
	/* Faults the host sees: ring accesses that found no translation,
	 * DMA faults of devices behind no vIOMMU (host event log). */
	atomic_ulong host_ring_faults;
	atomic_ulong host_dma_faults;
};

/* What a device behind this IOMMU heard back for its page requests. */
struct amd_dev_state {
	uint64_t ppr_responses;
	struct amd_ppr_response last;
};

/*
 * A ring page's translation, as the page ops found it by walking the
 * nesting parent: the host bytes of the 4 KiB GPA page at @gpa, the
 * access it allows (IOMMUFD_DOMAIN_READ/WRITE, less WRITE where the frame
 * is mapped read-only on the host), and the domain's unmap generation read
 * under the read lock before that walk.  Valid while the domain's
 * generation still equals @gen (0: never filled); see gpa_page_access().
 */
struct amd_page_xlat {
	uint64_t gen;
	uint64_t gpa;
	uint8_t *host;
	int prot;
};

/*
 * Direct-mapped by GPA page number: a ring of up to 128 pages (512 KiB,
 * the largest) keeps every page of its lap, and the rings of a guest sit
 * apart, so a log written lap after lap walks no more after the first.
 */
#define AMD_XLAT_SLOTS		128

struct amd_viommu {
	struct iommufd_viommu core;
	struct amd_iommu_inst *inst;
	struct amd_hw *hw;
	struct isim_hw_model model;
	uint16_t gid;
	uint16_t trans_devid;
	uint32_t viommu_devid;
	uint64_t mmap_offset;
	pthread_mutex_t queue_lock;	/* owner[] */
	/* The queue whose ALLOC programmed each ring last (it wins). */
	struct amd_hw_queue *owner[AMD_RING_NR];
	atomic_ulong ppr_rsp_orphans;	/* responses naming no vDEVICE */
	/*
	 * Ring-page translations the page ops keep.  Only the page ops use
	 * them, and the model calls those with its mutex held: that mutex
	 * serialises every access to the array.
	 */
	struct amd_page_xlat xlat[AMD_XLAT_SLOTS];
	/* Walks of the nesting parent the page ops made: their misses. */
	atomic_ulong xlat_walks;
};

extern const struct iommufd_viommu_ops amd_viommu_ops;

static inline struct amd_viommu *to_av(struct iommufd_viommu *viommu)
{
	return (struct amd_viommu *)viommu;
}

/* The driver's page_request op: a device's PCIe page request (PPR). */
int amd_viommu_page_request(struct isim_device *dev, uint32_t pasid,
			    uint64_t addr, unsigned flags, uint16_t group);

/* The vIOMMU's HW queue ops (amd_viommu_queue.c). */
size_t amd_viommu_get_hw_queue_size(struct iommufd_viommu *viommu,
				    unsigned type);
int amd_viommu_hw_queue_init(struct iommufd_hw_queue *hw_queue,
			     uint32_t index);

#endif
