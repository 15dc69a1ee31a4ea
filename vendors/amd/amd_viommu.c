/*
 * The "amd-viommu" IOMMU driver: AMD-Vi with the hardware vIOMMU of AMD's
 * out-of-tree series, on the iommufd driver interface.  One IOMMU instance
 * hands out guest IDs; each vIOMMU of type AMD is one gid, backed by an
 * amd_hw model (vendors/amd/amd_hw.h) whose VF page userspace maps
 * through the iommufd mmap and whose VFCTRL slot HW_QUEUE_ALLOC programs.
 * The guest's three rings are reached by GPA, i.e. by IOVA of the nesting
 * parent, through that parent's own page table at every access, so the
 * core pins nothing (the IOVA variant of HW_QUEUE_ALLOC) and an IOAS_UNMAP
 * of ring memory is not blocked: the next access simply finds no
 * translation and the model reports it as a hardware error.
 *
 * Devices nested behind a vIOMMU (attached to a nested HWPT allocated on
 * it, whose guest DTE the VMM passed in) report their DMA faults as
 * IO_PAGE_FAULT and their PCIe page requests as PPR entries in that
 * guest's logs, named by the guest DeviceID (the vDEVICE's virt_id); the
 * guest's COMPLETE_PPR_REQUEST answers go back to the device.
 *
 * The guest's Control register is trapped by the VMM in the real design
 * and forwarded to the kernel (an MMIO-access ioctl or IOMMU_OPTION in
 * different versions of the series); there is no such ioctl here, so
 * amd_viommu_control_write() (amd_viommu_vmm.c, with the other VMM-side
 * calls) stands for it.  The HW queue ops are in amd_viommu_queue.c, the
 * state these files share in amd_viommu_private.h.
 *
 * Locks, outermost first: the device's group_lock (held by the core around
 * dma_fault and taken here around page_request) → the model's own mutex →
 * the nesting parent domain's read lock (held across each ring access, so
 * IOAS_UNMAP cannot unpin a frame while the model touches it) → the
 * physical memory lock.  A vIOMMU's vdevs_lock → the instance lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/mm/phys.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu.h"
#include "vendors/amd/amd_viommu_private.h"

/* AMD-Vi is x86 only: its VF page and ring granule are 4 KiB. */
#define AMD_PAGE_SIZE		4096u

/* Guest DTE fields checked when a nested domain is allocated. */
#define DTE0_V			(1ull << 0)
#define DTE0_MODE		(7ull << 9)
#define DTE0_HOST_TRP		0x000ffffffffff000ull	/* bits 51:12 */
#define DTE0_PPR		(1ull << 52)
#define DTE0_GV			(1ull << 55)
#define DTE0_GLX_SHIFT		56
#define DTE0_GCR3_14_12		(7ull << 58)
#define DTE1_GCR3_30_15		(0xffffull << 16)
#define DTE1_GCR3_51_31		(0x1fffffull << 43)
#define DTE1_DOMID		0xffffull
#define DTE2_GPT_LEVEL_SHIFT	54
#define GPT_LEVEL_4		0
#define GPT_LEVEL_5		1

/* PASmax, EFR bits 36:32: the PASID width less one. */
#define EFR_PASMAX_SHIFT	32
#define EFR_PASMAX_MASK		0x1full

#define ISIM_PRQ_ALL	(ISIM_PRQ_READ | ISIM_PRQ_WRITE | ISIM_PRQ_EXEC | \
			 ISIM_PRQ_PRIV | ISIM_PRQ_LAST | ISIM_PRQ_PASID)

/* The guest DTE a nested HWPT carries, as IOMMU_HWPT_DATA_AMD_GUEST. */
struct amd_nested {
	struct iommu_hwpt_amd_guest gdte;
	uint16_t gdom_id;
};

/* ------------------------------------------------------------ instance */

static int parse_num(const char *val, uint64_t max, uint64_t *out)
{
	char *end;

	if (!*val || *val == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(val, &end, 0);
	return errno || *end || *out > max ? -EINVAL : 0;
}

/* A key the driver owns rather than the model; -ENOENT: not one. */
static int inst_option(struct amd_iommu_inst *inst, const char *key,
		       const char *val)
{
	uint64_t v;

	if (!strcmp(key, "gid") || !strcmp(key, "trans_devid"))
		return -EINVAL;	/* allocated per vIOMMU, not settable */
	if (!strcmp(key, "gpt_5level")) {
		if (!strcmp(val, "1") || !strcmp(val, "true"))
			inst->gpt_5level = true;
		else if (!strcmp(val, "0") || !strcmp(val, "false"))
			inst->gpt_5level = false;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(key, "efr2"))
		return parse_num(val, UINT64_MAX, &inst->efr2);
	if (!strcmp(key, "gid_first") || !strcmp(key, "gid_last") ||
	    !strcmp(key, "trans_devid_top")) {
		if (parse_num(val, UINT16_MAX, &v))
			return -EINVAL;
		if (!strcmp(key, "gid_first"))
			inst->gid_first = (uint16_t)v;
		else if (!strcmp(key, "gid_last"))
			inst->gid_last = (uint16_t)v;
		else
			inst->trans_devid_top = (uint16_t)v;
		return 0;
	}
	return -ENOENT;
}

/*
 * "k=v,..." : the driver's own keys (gid_first, gid_last, trans_devid_top,
 * efr2, gpt_5level) here, every other one goes to the model's parser (the
 * §8 knobs and the EFR), all or nothing.
 */
static int inst_parse(struct amd_iommu_inst *inst, const char *opts)
{
	char *buf, *rest, *tok, *save = NULL;
	size_t used = 0;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	buf = isim_should_fail() ? NULL : strdup(opts);
	rest = isim_kzalloc(strlen(opts) + 1);
	if (!buf || !rest) {
		rc = -ENOMEM;
		goto out;
	}
	for (tok = strtok_r(buf, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = inst_option(inst, tok, eq + 1);
		if (rc != -ENOENT)
			continue;
		*eq = '=';
		used += (size_t)snprintf(rest + used, strlen(opts) + 1 - used,
					 "%s%s", used ? "," : "", tok);
		rc = 0;
	}
	if (!rc)
		rc = amd_hw_config_parse(&inst->tmpl, rest);
out:
	free(rest);
	free(buf);
	return rc;
}

static int amd_probe(struct isim_iommu *iommu, const char *opts)
{
	struct isim_machine *m = isim_iommu_machine(iommu);
	struct amd_iommu_inst *inst;
	int rc;

	if (isim_machine_page_size(m) != AMD_PAGE_SIZE)
		return -EOPNOTSUPP;
	inst = isim_kzalloc(sizeof(*inst));
	if (!inst)
		return -ENOMEM;
	inst->m = m;
	amd_hw_config_init(&inst->tmpl);
	/* 16-bit PASIDs, what QEMU's AMD vIOMMU advertises (PASMAX). */
	inst->tmpl.efr |= 15ull << EFR_PASMAX_SHIFT;
	/*
	 * Bit 15 of a gid is meant to mark a secure vIOMMU in the series, and
	 * which IDs its allocator hands out was not visible: 1..0x7fff is a
	 * model choice.  Translate DeviceIDs come from the top of the segment.
	 */
	inst->gid_first = 1;
	inst->gid_last = 0x7fff;
	inst->trans_devid_top = 0xffff;
	inst->gpt_5level = true;
	rc = inst_parse(inst, opts);
	if (!rc && (inst->gid_first > inst->gid_last ||
		    inst->gid_last - inst->gid_first > inst->trans_devid_top))
		rc = -EINVAL;
	if (rc) {
		free(inst);
		return rc;
	}
	pthread_mutex_init(&inst->lock, NULL);
	isim_iommu_set_priv(iommu, inst);
	return 0;
}

static void amd_release(struct isim_iommu *iommu)
{
	struct amd_iommu_inst *inst = isim_iommu_priv(iommu);

	if (!inst)
		return;
	pthread_mutex_destroy(&inst->lock);
	free(inst);
	isim_iommu_set_priv(iommu, NULL);
}

static int gid_alloc(struct amd_iommu_inst *inst, uint16_t *gid)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&inst->lock);
	/* Lowest free first, as an IDA does. */
	for (uint32_t g = inst->gid_first; g <= inst->gid_last; g++) {
		if (inst->gid_map[g / 64] >> (g % 64) & 1)
			continue;
		inst->gid_map[g / 64] |= 1ull << (g % 64);
		*gid = (uint16_t)g;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&inst->lock);
	return rc;
}

static void gid_free(struct amd_iommu_inst *inst, uint16_t gid)
{
	pthread_mutex_lock(&inst->lock);
	inst->gid_map[gid / 64] &= ~(1ull << (gid % 64));
	pthread_mutex_unlock(&inst->lock);
}

static int amd_hw_info(struct isim_device *dev, unsigned in_type, void *data,
		       size_t *len, unsigned *out_type, uint64_t *caps,
		       uint8_t *max_pasid_log2)
{
	struct amd_iommu_inst *inst = isim_iommu_priv(isim_device_iommu(dev));
	struct iommu_hw_info_amd info = {
		.efr = inst->tmpl.efr,
		.efr2 = inst->efr2,
	};

	if (in_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
	    in_type != IOMMU_HW_INFO_TYPE_AMD)
		return -EOPNOTSUPP;
	memcpy(data, &info, sizeof(info));
	*len = sizeof(info);
	*out_type = IOMMU_HW_INFO_TYPE_AMD;
	*caps = 0;
	/* PASIDs exist only with guest translation. */
	*max_pasid_log2 = 0;
	if (info.efr & AMD_EFR_GT_SUP)
		*max_pasid_log2 = (uint8_t)((info.efr >> EFR_PASMAX_SHIFT &
					     EFR_PASMAX_MASK) + 1);
	return 0;
}

/* The v1 page table: 4 KiB, 2 MiB and 1 GiB leaves over all 64 bits. */
static int amd_paging_geometry(struct isim_device *dev, uint32_t flags,
			       uint64_t *pgsize_bitmap, uint64_t *start,
			       uint64_t *last)
{
	*pgsize_bitmap = (1ull << 12) | (1ull << 21) | (1ull << 30);
	*start = 0;
	*last = UINT64_MAX;
	return 0;
}

/* --------------------------------------------------- devices and faults */

/*
 * The vIOMMU @dev is nested behind and its guest DTE, or NULL.  The device's
 * group lock must be held: it keeps the attachment, and with it the vIOMMU
 * and the nested domain, alive.
 */
static struct amd_viommu *dev_viommu(struct isim_device *dev,
				     struct amd_nested **nested)
{
	struct iommufd_viommu *viommu = dev->viommu;
	struct iommufd_hw_pagetable *hwpt;

	if (!viommu || viommu->ops != &amd_viommu_ops || !dev->idev)
		return NULL;
	hwpt = dev->idev->hwpt;
	if (!hwpt || hwpt->obj.type != IOMMUFD_OBJ_HWPT_NESTED)
		return NULL;
	*nested = ((struct iommufd_hwpt_nested *)hwpt)->nested;
	return to_av(viommu);
}

/*
 * isim_dma found no usable translation (group lock held).  A device nested
 * behind a vIOMMU gets IO_PAGE_FAULT in that guest's event log, with the
 * guest's DeviceID and DomainID, as the vIOMMU-enabled DTE routes it; any
 * other device's fault goes to the host's log, which is only counted.
 */
static void amd_dma_fault(struct isim_device *dev, uint64_t iova,
			  unsigned flags)
{
	struct amd_iommu_inst *inst = isim_iommu_priv(isim_device_iommu(dev));
	struct amd_nested *n;
	struct amd_viommu *av = dev_viommu(dev, &n);
	uint16_t evf = flags & ISIM_DMA_WRITE ? AMD_EVT_F_RW : 0;
	struct iommufd_domain *s2;
	uint64_t pa;
	int prot;

	if (!av) {
		atomic_fetch_add(&inst->host_dma_faults, 1);
		return;
	}
	/* A present entry that denied the access is a permission fault. */
	s2 = iommufd_hwpt_s2_domain(dev->idev->hwpt);
	if (!iommufd_domain_iova_to_phys(s2, iova, &pa, &prot))
		evf |= AMD_EVT_F_PR | AMD_EVT_F_PE;
	/*
	 * A full or stopped log drops it; the model counts that.  A lone
	 * event, a burst of one: isim_dma stops at the first page that
	 * faults, so one transfer never reports more than one fault.
	 */
	amd_hw_io_page_fault(av->hw, (uint16_t)dev->virt_id, n->gdom_id, 0,
			     iova, evf);
}

/* The device's response record, made on its first page request. */
static int dev_state_get(struct amd_iommu_inst *inst, struct isim_device *dev)
{
	int rc = 0;

	pthread_mutex_lock(&inst->lock);
	if (!dev->drvdata) {
		dev->drvdata = isim_kzalloc(sizeof(struct amd_dev_state));
		if (!dev->drvdata)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&inst->lock);
	return rc;
}

int amd_viommu_page_request(struct isim_device *dev, uint32_t pasid,
			    uint64_t addr, unsigned flags, uint16_t group)
{
	struct amd_iommu_inst *inst = isim_iommu_priv(isim_device_iommu(dev));
	struct amd_nested *n;
	struct amd_viommu *av;
	struct amd_ppr req;
	struct amd_event ev;
	int rc;

	if (flags & ~ISIM_PRQ_ALL || pasid >> 20 || group >> 9)
		return -EINVAL;
	av = dev_viommu(dev, &n);
	if (!av)
		return -ENODEV;
	rc = dev_state_get(inst, dev);
	if (rc)
		return rc;
	req = (struct amd_ppr){
		.devid = (uint16_t)dev->virt_id,
		.pasid = flags & ISIM_PRQ_PASID ? pasid : 0,
		.prgi = group,
		.last = flags & ISIM_PRQ_LAST,
		/* Page requests name pages: the low 12 bits are not address. */
		.addr = addr & ~(uint64_t)(AMD_PAGE_SIZE - 1),
	};
	if (flags & ISIM_PRQ_READ)
		req.flags |= AMD_PPR_F_RD;
	if (flags & ISIM_PRQ_WRITE)
		req.flags |= AMD_PPR_F_WR;
	if (flags & ISIM_PRQ_EXEC)
		req.flags |= AMD_PPR_F_EX;
	if (!(flags & ISIM_PRQ_PRIV))
		req.flags |= AMD_PPR_F_US;
	if (flags & ISIM_PRQ_PASID)
		req.flags |= AMD_PPR_F_GN;
	/*
	 * The guest's DTE enables page requests per device (the host copies
	 * its PPR bit); without it the request is invalid for the IOMMU
	 * [inferred, as for PPREn off].
	 */
	if (!(n->gdte.dte[0] & DTE0_PPR)) {
		if (amd_hw_config(av->hw)->invalid_ppr_event_when_disabled) {
			amd_ppr_to_event(&req, &ev);
			amd_hw_event(av->hw, &ev);
		}
		return -EAGAIN;
	}
	return amd_hw_ppr_request(av->hw, &req);
}

/*
 * The public entry (sim.h).  Generic: it only dispatches to the device's
 * IOMMU driver, under the group lock that keeps the attachment stable for
 * the driver, as isim_dma does around dma_fault.
 */
int isim_device_page_request(struct isim_device *dev, uint32_t pasid,
			     uint64_t addr, unsigned flags, uint16_t group)
{
	int rc;

	if (!dev)
		return -EINVAL;
	if (!dev->iommu->ops->page_request)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->group_lock);
	if (!dev->idev || !dev->idev->hwpt)
		rc = -ENODEV;
	else
		rc = dev->iommu->ops->page_request(dev, pasid, addr, flags,
						   group);
	pthread_mutex_unlock(&dev->group_lock);
	return rc;
}

/* ------------------------------------------- guest memory for the model */

struct gpa_xfer {
	struct isim_machine *m;
	uint64_t gpa;
	uint8_t *buf;
	size_t len;
	bool write;
	int rc;
};

/*
 * An 8-byte aligned store is one atomic release store, because the guest
 * polls COMPLETION_WAIT semaphores (and, with late_entry_visibility, log
 * entries) while the model writes them.  That needs the frame's bytes in
 * our own mapping; program memory the simulator only reaches by copying
 * gets the copy, which a guest could see torn.
 */
static int pa_store(struct isim_machine *m, uint64_t pa, const uint8_t *buf,
		    size_t len)
{
	unsigned shift = isim_phys_page_shift(m->phys);
	struct isim_frame_info fi;
	uint64_t v = 0;

	if (len == 8 && !(pa % 8) &&
	    !isim_phys_frame(m->phys, pa >> shift, &fi) &&
	    fi.state == ISIM_FRAME_ALLOCATED && fi.host &&
	    (fi.host_flags & ISIM_HOST_DIRECT) &&
	    !(fi.host_flags & ISIM_HOST_RDONLY)) {
		memcpy(&v, buf, 8);
		atomic_store_explicit((_Atomic uint64_t *)((char *)fi.host +
				      (pa & ((1ull << shift) - 1))),
				      v, memory_order_release);
		return 0;
	}
	return isim_machine_pa_write(m, pa, buf, len);
}

/*
 * One piece inside a 4 KiB page, under the domain's read lock: the first
 * mapped run must start at the piece and cover it with the permission the
 * access needs.  An unmap waits for the lock, and it unmaps before it
 * unpins, so the frame found here stays allocated for the copy.
 */
static int gpa_piece(void *arg, uint64_t iova, uint64_t pa, uint64_t len,
		     int prot)
{
	struct gpa_xfer *x = arg;
	int need = x->write ? IOMMUFD_DOMAIN_WRITE : IOMMUFD_DOMAIN_READ;

	if (iova != x->gpa || len < x->len || !(prot & need))
		x->rc = -EFAULT;
	else if (x->write)
		x->rc = pa_store(x->m, pa, x->buf, x->len);
	else
		x->rc = isim_machine_pa_read(x->m, pa, x->buf, x->len);
	return 1;	/* the first run decides */
}

/*
 * The isim_hw_mem provider: GPA = IOVA of the nesting parent.  Walked one
 * 4 KiB page at a time, as the hardware's translate DeviceID does, so a
 * ring need not be contiguous on the host; a page without a translation is
 * -EFAULT, which the model turns into its hardware-error event.
 */
static int gpa_access(struct amd_viommu *av, uint64_t gpa, void *buf,
		      size_t len, bool write)
{
	struct iommufd_domain *domain = av->core.hwpt->common.domain;
	struct gpa_xfer x = { .m = av->core.ictx->m, .write = write };
	uint8_t *p = buf;

	while (len) {
		size_t n = AMD_PAGE_SIZE - gpa % AMD_PAGE_SIZE;

		if (n > len)
			n = len;
		x.gpa = gpa;
		x.buf = p;
		x.len = n;
		x.rc = -EFAULT;
		if (iommufd_domain_for_each(domain, gpa, gpa + n - 1,
					    gpa_piece, &x) != 1 || x.rc)
			return -EFAULT;
		gpa += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int gpa_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	return gpa_access(ctx, gpa, buf, len, false);
}

static int gpa_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	return gpa_access(ctx, gpa, (void *)buf, len, true);
}

/*
 * The model's direct view of one ring page (struct amd_hw_page_ops): @fn
 * runs on the frame's own bytes under the nesting parent's read lock, so
 * the model translates a ring page once for all its entries, and an
 * IOAS_UNMAP of the page (which takes that lock for writing, and unpins
 * only after it) waits for @fn instead of freeing the frame under it; the
 * next access then finds no translation and the model reports its
 * hardware error.
 *
 * The translation is kept (av->xlat) with the domain's unmap generation,
 * so an access to a page seen before costs the read lock and a compare:
 * under the lock, an unchanged generation means no unmap removed anything
 * since the walk that found the frame, so the page is still mapped to it
 * and the frame still pinned.  The generation kept is the one read under
 * the lock just before that walk, not during it (the walk takes the lock
 * itself, and the callback of iommufd_domain_read_locked must not take it
 * again): generations only grow, so a later equal reading proves that no
 * unmap ran between the earlier reading and now, a span the walk lies in.
 * An unmap in between leaves the kept generation behind, and the next
 * access walks again.
 */
struct gpa_page {
	struct amd_viommu *av;
	struct amd_page_xlat *slot;
	uint64_t gpa;
	uint64_t gen;		/* read before the walk, on a miss */
	int need;		/* IOMMUFD_DOMAIN_READ or _WRITE */
	int (*fn)(void *arg, uint8_t *host);
	void *arg;
	int rc;
};

/* The kept translation, if it is still good: a miss returns 1. */
static int gpa_page_cached(void *arg, uint64_t gen)
{
	struct gpa_page *x = arg;
	const struct amd_page_xlat *t = x->slot;

	if (t->gen != gen || t->gpa != x->gpa || !(t->prot & x->need)) {
		x->gen = gen;
		return 1;
	}
	x->rc = x->fn(x->arg, t->host);
	return 0;
}

/* The walk: the first mapped run of the page, under the read lock. */
static int gpa_page_piece(void *arg, uint64_t iova, uint64_t pa, uint64_t len,
			  int prot)
{
	struct gpa_page *x = arg;
	struct isim_machine *m = x->av->core.ictx->m;
	unsigned shift = isim_phys_page_shift(m->phys);
	struct isim_frame_info fi;

	if (iova != x->gpa || len < AMD_PAGE_SIZE || !(prot & x->need)) {
		x->rc = -EFAULT;
		return 1;
	}
	/*
	 * Only bytes in our own mapping are used in place; anything else
	 * (a frame gone bad, program memory reached by copying, a read-only
	 * mapping for a write) takes the copying path, which reports it.
	 */
	if ((1u << shift) != AMD_PAGE_SIZE ||
	    isim_phys_frame(m->phys, pa >> shift, &fi) ||
	    fi.state != ISIM_FRAME_ALLOCATED || !fi.host ||
	    !(fi.host_flags & ISIM_HOST_DIRECT) ||
	    (x->need == IOMMUFD_DOMAIN_WRITE &&
	     (fi.host_flags & ISIM_HOST_RDONLY))) {
		x->rc = -EOPNOTSUPP;
		return 1;
	}
	if (fi.host_flags & ISIM_HOST_RDONLY)
		prot &= ~IOMMUFD_DOMAIN_WRITE;
	*x->slot = (struct amd_page_xlat){
		.gen = x->gen, .gpa = x->gpa, .host = fi.host, .prot = prot,
	};
	x->rc = x->fn(x->arg, fi.host);
	return 1;	/* the first run decides */
}

static int gpa_page_access(void *ctx, uint64_t gpa, bool write,
			   int (*fn)(void *arg, uint8_t *host), void *arg)
{
	struct amd_viommu *av = ctx;
	struct iommufd_domain *domain = av->core.hwpt->common.domain;
	struct gpa_page x = {
		.av = av, .gpa = gpa, .fn = fn, .arg = arg, .rc = -EFAULT,
		.slot = &av->xlat[gpa / AMD_PAGE_SIZE % AMD_XLAT_SLOTS],
		.need = write ? IOMMUFD_DOMAIN_WRITE : IOMMUFD_DOMAIN_READ,
	};

	if (!iommufd_domain_read_locked(domain, gpa_page_cached, &x))
		return x.rc;
	/* Nothing kept, or kept before an unmap: walk (x.gen is set). */
	atomic_fetch_add_explicit(&av->xlat_walks, 1, memory_order_relaxed);
	if (iommufd_domain_for_each(domain, gpa, gpa + AMD_PAGE_SIZE - 1,
				    gpa_page_piece, &x) != 1)
		return -EFAULT;
	return x.rc;
}

/* ------------------------------------------------------ model callbacks */

/*
 * A COMPLETE_PPR_REQUEST went out: deliver it to the device the guest
 * named.  The lookup and the record happen under the vIOMMU's vDEVICE
 * lock, so the device cannot lose its vDEVICE (and be unbound) meanwhile.
 */
static void amd_ppr_response(void *arg, const struct amd_ppr_response *rsp)
{
	struct amd_viommu *av = arg;
	struct iommufd_vdevice *vdev;
	uint64_t virt_id = rsp->devid;
	struct amd_dev_state *st = NULL;

	pthread_rwlock_rdlock(&av->core.vdevs_lock);
	HASH_FIND(hh, av->core.vdevs, &virt_id, sizeof(virt_id), vdev);
	if (vdev) {
		pthread_mutex_lock(&av->inst->lock);
		st = vdev->idev->dev->drvdata;
		if (st) {
			st->ppr_responses++;
			st->last = *rsp;
		}
		pthread_mutex_unlock(&av->inst->lock);
	}
	pthread_rwlock_unlock(&av->core.vdevs_lock);
	/* The IOMMU forwards a response it cannot place; no one hears it. */
	if (!st)
		atomic_fetch_add(&av->ppr_rsp_orphans, 1);
}

/* A ring access found no translation: the host's fault against the
 * translate DeviceID (§6.6); the guest sees the model's own event. */
static void amd_host_fault(void *arg, uint16_t trans_devid, uint64_t gpa,
			   bool write)
{
	struct amd_viommu *av = arg;

	atomic_fetch_add(&av->inst->host_ring_faults, 1);
	isim_trace(&av->core.ictx->m->trace, "amd.host_fault",
		   "gid=%u trans_devid=%#x gpa=%#llx write=%d", av->gid,
		   trans_devid, (unsigned long long)gpa, write);
}

static unsigned amd_model_step(struct isim_hw_model *model, unsigned budget)
{
	return amd_hw_step(((struct amd_viommu *)model->priv)->hw, budget);
}

static int amd_model_start(struct isim_hw_model *model)
{
	return amd_hw_start(((struct amd_viommu *)model->priv)->hw);
}

static void amd_model_stop(struct isim_hw_model *model)
{
	amd_hw_stop(((struct amd_viommu *)model->priv)->hw);
}

/* ---------------------------------------------------------------- vIOMMU */

static size_t amd_get_viommu_size(struct isim_device *dev, unsigned type)
{
	return type == IOMMU_VIOMMU_TYPE_AMD ? sizeof(struct amd_viommu) : 0;
}

static void amd_viommu_destroy(struct iommufd_viommu *viommu)
{
	struct amd_viommu *av = to_av(viommu);

	/* Stops the engine thread, or waits out a step in isim_hw_run. */
	isim_hw_unregister(viommu->ictx->m, &av->model);
	iommufd_viommu_destroy_mmap(viommu, av->mmap_offset);
	amd_hw_destroy(av->hw);
	gid_free(av->inst, av->gid);
	pthread_mutex_destroy(&av->queue_lock);
}

static int amd_viommu_init(struct iommufd_viommu *viommu,
			   const struct iommu_user_data *data)
{
	struct amd_iommu_inst *inst = isim_iommu_priv(viommu->iommu);
	struct isim_machine *m = viommu->ictx->m;
	struct amd_viommu *av = to_av(viommu);
	const struct isim_hw_mem mem = { gpa_read, gpa_write, av };
	const struct amd_hw_ops hops = {
		.ppr_response = amd_ppr_response,
		.host_fault = amd_host_fault,
	};
	struct iommu_viommu_amd arg;
	struct amd_hw_config cfg;
	int rc;

	/* The series requires the data; kvmfd is of no use without KVM. */
	rc = iommu_copy_struct_from_user(data, &arg, IOMMU_VIOMMU_TYPE_AMD,
					 sizeof(arg), sizeof(arg));
	if (rc)
		return rc;
	/* A secure (SNP) vIOMMU is not modelled. */
	if (arg.features || arg.reserved)
		return -EOPNOTSUPP;
	av->inst = inst;
	rc = gid_alloc(inst, &av->gid);
	if (rc)
		return rc;
	av->trans_devid = (uint16_t)(inst->trans_devid_top -
				     (av->gid - inst->gid_first));
	av->viommu_devid = arg.viommu_devid;
	cfg = inst->tmpl;
	cfg.gid = av->gid;
	cfg.trans_devid = av->trans_devid;
	/* A fresh model is what RESET_VMMIO leaves: every register zero. */
	rc = amd_hw_create(&cfg, &mem, &hops, av, &m->trace, &av->hw);
	if (rc)
		goto err_gid;
	amd_hw_set_page_ops(av->hw, &(struct amd_hw_page_ops){
		.access = gpa_page_access, .ctx = av });
	rc = iommufd_viommu_alloc_mmap(viommu, amd_hw_vf_page(av->hw),
				       AMD_VF_PAGE_SIZE, &av->mmap_offset);
	if (rc)
		goto err_hw;
	arg.out_vfmmio_mmap_offset = av->mmap_offset;
	rc = iommu_copy_struct_to_user(data, &arg, IOMMU_VIOMMU_TYPE_AMD,
				       sizeof(arg));
	if (rc)
		goto err_mmap;
	pthread_mutex_init(&av->queue_lock, NULL);
	av->model = (struct isim_hw_model){
		.name = "amd-viommu",
		.step = amd_model_step,
		.start = amd_model_start,
		.stop = amd_model_stop,
		.priv = av,
	};
	rc = isim_hw_register(m, &av->model);
	if (rc)
		goto err_lock;
	isim_trace(&m->trace, "amd.viommu", "viommu=%u gid=%u trans_devid=%#x",
		   viommu->obj.id, av->gid, av->trans_devid);
	viommu->ops = &amd_viommu_ops;
	return 0;

err_lock:
	pthread_mutex_destroy(&av->queue_lock);
err_mmap:
	iommufd_viommu_destroy_mmap(viommu, av->mmap_offset);
err_hw:
	amd_hw_destroy(av->hw);
	av->hw = NULL;
err_gid:
	gid_free(inst, av->gid);
	return rc;
}

/* The series' checks of a guest DTE for nesting, with its errnos. */
static int gdte_validate(const struct amd_iommu_inst *inst,
			 const struct iommu_hwpt_amd_guest *g)
{
	unsigned level = (unsigned)(g->dte[2] >> DTE2_GPT_LEVEL_SHIFT & 3);

	/* The host owns stage 2: no mode, no host table root. */
	if (g->dte[0] & (DTE0_MODE | DTE0_HOST_TRP))
		return -EINVAL;
	if (!(g->dte[0] & DTE0_V) || !(g->dte[0] & DTE0_GV) ||
	    (!(g->dte[0] & DTE0_GCR3_14_12) && !(g->dte[1] & DTE1_GCR3_30_15) &&
	     !(g->dte[1] & DTE1_GCR3_51_31)))
		return -EINVAL;
	if (level != GPT_LEVEL_4 && level != GPT_LEVEL_5)
		return -EINVAL;
	if ((g->dte[0] >> DTE0_GLX_SHIFT & 3) == 3)
		return -EINVAL;
	if (level == GPT_LEVEL_5 && !inst->gpt_5level)
		return -EOPNOTSUPP;
	return 0;
}

static int amd_alloc_domain_nested(struct iommufd_viommu *viommu,
				   uint32_t flags,
				   const struct iommu_user_data *data,
				   void **out)
{
	struct amd_nested *n;
	int rc;

	if (flags & ~IOMMU_HWPT_ALLOC_PASID)
		return -EOPNOTSUPP;
	if (data->type != IOMMU_HWPT_DATA_AMD_GUEST)
		return -EOPNOTSUPP;
	n = isim_kzalloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = iommu_copy_struct_from_user(data, &n->gdte,
					 IOMMU_HWPT_DATA_AMD_GUEST,
					 sizeof(n->gdte), sizeof(n->gdte));
	if (!rc)
		rc = gdte_validate(to_av(viommu)->inst, &n->gdte);
	if (rc) {
		free(n);
		return rc;
	}
	n->gdom_id = (uint16_t)(n->gdte.dte[1] & DTE1_DOMID);
	*out = n;
	return 0;
}

static void amd_free_domain_nested(struct iommufd_viommu *viommu,
				   void *nested)
{
	free(nested);
}

/* The guest DeviceID is 16 bits: the DeviceID map has no room for more. */
static int amd_vdevice_init(struct iommufd_vdevice *vdev)
{
	return vdev->virt_id > UINT16_MAX ? -EINVAL : 0;
}

const struct iommufd_viommu_ops amd_viommu_ops = {
	.destroy = amd_viommu_destroy,
	.alloc_domain_nested = amd_alloc_domain_nested,
	.free_domain_nested = amd_free_domain_nested,
	.vdevice_init = amd_vdevice_init,
	.get_hw_queue_size = amd_viommu_get_hw_queue_size,
	.hw_queue_init = amd_viommu_hw_queue_init,
};

const struct isim_iommu_ops isim_amd_iommu_ops = {
	.name = "amd-viommu",
	.probe = amd_probe,
	.release = amd_release,
	.hw_info = amd_hw_info,
	.paging_geometry = amd_paging_geometry,
	.dma_fault = amd_dma_fault,
	.page_request = amd_viommu_page_request,
	.get_viommu_size = amd_get_viommu_size,
	.viommu_init = amd_viommu_init,
};
