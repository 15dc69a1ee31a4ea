/*
 * The VMM-side calls of the amd-viommu driver that have no ioctl: writing
 * the guest's Control register (which the VMM traps and forwards), and
 * inspection for tests, the CLI and benchmarks.
 */
#ifndef ISIM_AMD_VIOMMU_H
#define ISIM_AMD_VIOMMU_H

#include <stdint.h>

#include "iommufd-sim/sim.h"
#include "vendors/amd/amd_hw.h"

int amd_viommu_control_write(struct isim_fd *fd, uint32_t viommu_id,
			     uint64_t control);
int amd_viommu_control_read(struct isim_fd *fd, uint32_t viommu_id,
			    uint64_t *control);
int amd_viommu_model(struct isim_fd *fd, uint32_t viommu_id,
		     struct amd_hw **out);
int amd_viommu_ppr_responses(struct isim_device *dev,
			     struct amd_ppr_response *last, uint64_t *count);
int amd_viommu_host_faults(struct isim_iommu *iommu, uint64_t *ring,
			   uint64_t *dma);
/*
 * How many times the ring-page accesses of a vIOMMU's model walked the
 * nesting parent's page table: once for a page not seen before or seen
 * before an unmap, the kept translation serving every other access.
 */
int amd_viommu_xlat_walks(struct isim_fd *fd, uint32_t viommu_id,
			  uint64_t *walks);

#endif
