/*
 * The VMM-side calls of the "amd-viommu" driver (amd_viommu.h): the ones
 * with no ioctl behind them.  Writing and reading back the guest's Control
 * register, which the VMM traps and forwards to the kernel in the real
 * design, and inspection for tests, the CLI and benchmarks: the model
 * behind a vIOMMU, the page-request responses a device got, the faults
 * the host saw and how often the ring accesses walked the nesting parent.  Each looks its object up as an ioctl would and checks it
 * belongs to this driver (amd_viommu_private.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sim/iommufd/iommufd_private.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu.h"
#include "vendors/amd/amd_viommu_private.h"

/* ------------------------------------------------ for the VMM and tests */

/*
 * Look up an AMD vIOMMU as an ioctl would: -ENOENT for no vIOMMU of that
 * ID, -EINVAL for one of another type.  The caller drops the reference.
 */
static struct amd_viommu *amd_viommu_get(struct isim_fd *fd, uint32_t id)
{
	struct iommufd_viommu *viommu = iommufd_get_viommu(&fd->ictx, id);

	if (IS_ERR(viommu))
		return (void *)viommu;
	if (viommu->ops != &amd_viommu_ops) {
		iommufd_put_object(&fd->ictx, &viommu->obj);
		return ERR_PTR(-EINVAL);
	}
	return to_av(viommu);
}

/*
 * The guest wrote its Control register (native offset 0x18): forward the
 * ring enables into VFCTRL.  What the series does through an MMIO-access
 * ioctl (or IOMMU_OPTION); IommuEn stays the host's.
 */
int amd_viommu_control_write(struct isim_fd *fd, uint32_t viommu_id,
			     uint64_t control)
{
	struct amd_viommu *av = amd_viommu_get(fd, viommu_id);

	if (IS_ERR(av))
		return (int)PTR_ERR(av);
	amd_hw_control_write(av->hw, control);
	iommufd_put_object(&fd->ictx, &av->core.obj);
	return 0;
}

/* The guest reads Control back: rebuilt from VFCTRL. */
int amd_viommu_control_read(struct isim_fd *fd, uint32_t viommu_id,
			    uint64_t *control)
{
	struct amd_viommu *av = amd_viommu_get(fd, viommu_id);

	if (IS_ERR(av))
		return (int)PTR_ERR(av);
	*control = amd_hw_control_read(av->hw);
	iommufd_put_object(&fd->ictx, &av->core.obj);
	return 0;
}

/*
 * The model behind a vIOMMU, for inspection (VFCTRL, stats, status).  It
 * lives as long as the vIOMMU; the caller keeps the vIOMMU alive.
 */
int amd_viommu_model(struct isim_fd *fd, uint32_t viommu_id,
		     struct amd_hw **out)
{
	struct amd_viommu *av = amd_viommu_get(fd, viommu_id);

	if (IS_ERR(av))
		return (int)PTR_ERR(av);
	*out = av->hw;
	iommufd_put_object(&fd->ictx, &av->core.obj);
	return 0;
}

/* How many page-request responses reached @dev, and the last one. */
int amd_viommu_ppr_responses(struct isim_device *dev,
			     struct amd_ppr_response *last, uint64_t *count)
{
	struct amd_iommu_inst *inst;
	struct amd_dev_state *st;

	if (!dev || dev->iommu->ops->page_request != amd_viommu_page_request)
		return -EINVAL;
	inst = isim_iommu_priv(dev->iommu);
	pthread_mutex_lock(&inst->lock);
	st = dev->drvdata;
	*count = st ? st->ppr_responses : 0;
	if (st && last)
		*last = st->last;
	pthread_mutex_unlock(&inst->lock);
	return 0;
}

/* Faults the host saw: ring accesses without a translation, and DMA
 * faults of devices behind no vIOMMU. */
int amd_viommu_host_faults(struct isim_iommu *iommu, uint64_t *ring,
			   uint64_t *dma)
{
	struct amd_iommu_inst *inst;

	if (!iommu || iommu->ops->page_request != amd_viommu_page_request)
		return -EINVAL;
	inst = isim_iommu_priv(iommu);
	*ring = atomic_load(&inst->host_ring_faults);
	*dma = atomic_load(&inst->host_dma_faults);
	return 0;
}

int amd_viommu_xlat_walks(struct isim_fd *fd, uint32_t viommu_id,
			  uint64_t *walks)
{
	struct amd_viommu *av = amd_viommu_get(fd, viommu_id);

	if (IS_ERR(av))
		return (int)PTR_ERR(av);
	*walks = atomic_load_explicit(&av->xlat_walks, memory_order_relaxed);
	iommufd_put_object(&fd->ictx, &av->core.obj);
	return 0;
}
