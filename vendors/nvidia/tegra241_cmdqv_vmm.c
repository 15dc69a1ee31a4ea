/*
 * The VMM-side calls of the "tegra241-cmdqv" driver, for the VMM and for
 * tests, the CLI and benchmarks: the instance's CMDQV model, the VINTF
 * behind a vIOMMU, the vIOMMU's vEVENT and invalidation counts (the
 * latter for a plain SMMUv3 vIOMMU too), a nested domain's accepted STE
 * and a device's physical stream ID.  Each checks
 * that the object it is given belongs to this driver; their declarations
 * are in tegra241_cmdqv_private.h (callers outside the driver repeat
 * them).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/iommufd/iommufd_private.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/tegra241_cmdqv_private.h"

/* The instance's hardware model, for tests to inspect its caches. */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out)
{
	struct cmdqv_inst *inst;

	if (!iommu || iommu->ops != &isim_tegra241_cmdqv_iommu_ops)
		return -EINVAL;
	inst = isim_iommu_priv(iommu);
	*out = inst->hw;
	return 0;
}

/* Whether @viommu is one of this driver's, of either type. */
static bool vsmmu_ours(const struct iommufd_viommu *viommu)
{
	return viommu->ops == &tegra241_cmdqv_viommu_ops ||
	       viommu->ops == &tegra241_vsmmu_viommu_ops;
}

/* vIOMMU @id held, if it is this driver's (a VINTF one if @vintf). */
static struct cmdqv_vsmmu *vsmmu_get(struct isim_fd *fd, uint32_t id,
				     bool vintf)
{
	struct iommufd_viommu *viommu = iommufd_get_viommu(&fd->ictx, id);

	if (IS_ERR(viommu))
		return (void *)viommu;
	if (vintf ? viommu->ops != &tegra241_cmdqv_viommu_ops :
		    !vsmmu_ours(viommu)) {
		iommufd_put_object(&fd->ictx, &viommu->obj);
		return ERR_PTR(-EINVAL);
	}
	return to_vsmmu(viommu);
}

/* The VINTF behind vIOMMU @viommu_id (valid while the vIOMMU lives). */
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out)
{
	struct cmdqv_vsmmu *vs = vsmmu_get(fd, viommu_id, true);

	if (IS_ERR(vs))
		return (int)PTR_ERR(vs);
	*out = to_vintf(&vs->core)->v;
	iommufd_put_object(&fd->ictx, &vs->core.obj);
	return 0;
}

/* The vIOMMU's counters, in pairs. */
enum vintf_counter_pair { VINTF_EVENTS, VSMMU_INVALIDATIONS };

/*
 * A pair of the vIOMMU's counters, read while it is held: the vEVENT
 * ones only a VINTF has, the invalidation ones every vIOMMU.
 */
static int vintf_counters(struct isim_fd *fd, uint32_t viommu_id,
			  enum vintf_counter_pair pair, uint64_t *a,
			  uint64_t *b)
{
	struct cmdqv_vsmmu *vs = vsmmu_get(fd, viommu_id,
					   pair == VINTF_EVENTS);

	if (IS_ERR(vs))
		return (int)PTR_ERR(vs);
	if (pair == VINTF_EVENTS) {
		struct cmdqv_vintf *vi = to_vintf(&vs->core);

		*a = atomic_load(&vi->events_reported);
		*b = atomic_load(&vi->events_dropped);
	} else {
		*a = atomic_load(&vs->inv_cmds);
		*b = atomic_load(&vs->inv_batches);
	}
	iommufd_put_object(&fd->ictx, &vs->core.obj);
	return 0;
}

/* vEVENTs delivered to the VMM's vEVENTQ, and those dropped (no queue). */
int tegra241_cmdqv_viommu_events(struct isim_fd *fd, uint32_t viommu_id,
				 uint64_t *reported, uint64_t *dropped)
{
	return vintf_counters(fd, viommu_id, VINTF_EVENTS, reported, dropped);
}

/* IOMMU_HWPT_INVALIDATE on the vIOMMU: commands and batches issued. */
int tegra241_cmdqv_viommu_invalidations(struct isim_fd *fd,
					uint32_t viommu_id, uint64_t *cmds,
					uint64_t *batches)
{
	return vintf_counters(fd, viommu_id, VSMMU_INVALIDATIONS, cmds,
			      batches);
}

/*
 * The STE words 0-1 nested HWPT @hwpt_id kept (CPU order, EATS clear) and
 * whether they enabled ATS: what the attach would build the physical STE
 * from.  -EINVAL for a nested HWPT of another driver.
 */
int tegra241_cmdqv_nested_ste(struct isim_fd *fd, uint32_t hwpt_id,
			      uint64_t ste[2], bool *enable_ats)
{
	struct iommufd_hwpt_nested *n;
	const struct cmdqv_nested *nested;
	int rc = 0;

	n = (struct iommufd_hwpt_nested *)iommufd_get_object(
		&fd->ictx, hwpt_id, IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(n))
		return (int)PTR_ERR(n);
	if (!n->viommu || !vsmmu_ours(n->viommu)) {
		rc = -EINVAL;
		goto out;
	}
	nested = n->nested;
	ste[0] = nested->ste[0];
	ste[1] = nested->ste[1];
	*enable_ats = nested->enable_ats;
out:
	iommufd_put_object(&fd->ictx, &n->common.obj);
	return rc;
}

/* @dev's physical stream ID (what SID_REPLACE gets for its vDEVICEs). */
int tegra241_cmdqv_device_sid(struct isim_device *dev, uint32_t *sid)
{
	if (!dev || dev->iommu->ops != &isim_tegra241_cmdqv_iommu_ops)
		return -EINVAL;
	return tegra241_cmdqv_dev_sid(isim_iommu_priv(dev->iommu), dev, sid);
}
