/*
 * The software vSMMU side of the "tegra241-cmdqv" driver through the real
 * ioctls, on both of its vIOMMU types (a TEGRA241_CMDQV one with its
 * VINTF, and the plain ARM_SMMUV3 one a VMM uses without CMDQV
 * acceleration): nested HWPTs allocated on the vIOMMU with the guest's
 * STE (IOMMU_HWPT_DATA_ARM_SMMUV3), and IOMMU_HWPT_INVALIDATE on the
 * vIOMMU with SMMUv3 commands (IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3),
 * as the kernel's arm_vsmmu_alloc_domain_nested() and
 * arm_vsmmu_cache_invalidate() take them: which STEs pass and the errno of
 * each that does not, the VMID forced on TLBIs, vSID to pSID for ATC_INV
 * and the CD invalidations, EIO with entry_num for what cannot be
 * converted, and the batches of 63.  What an issued command did shows in
 * the model's IOTLB and ATC and in the "cmdqv.invalidate" trace, which
 * carries the converted words.  Then what is the plain vIOMMU's own, as
 * arm_smmu_get_viommu_size() and arm_vsmmu_init() have it: allocation,
 * its checks and VMID, and no HW queue.  The VCMDQ path for the same
 * guest is tested in test_tegra241_cmdqv.c.
 */
#include "config.h"

#include <endian.h>
#include <stdio.h>

#include "tests/unit/helpers.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

/* The driver's calls for the VMM side (vendors/nvidia/tegra241_cmdqv*.c). */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out);
int tegra241_cmdqv_device_sid(struct isim_device *dev, uint32_t *sid);
int tegra241_cmdqv_nested_ste(struct isim_fd *fd, uint32_t hwpt_id,
			      uint64_t ste[2], bool *enable_ats);
int tegra241_cmdqv_viommu_invalidations(struct isim_fd *fd,
					uint32_t viommu_id, uint64_t *cmds,
					uint64_t *batches);
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out);

#define VMID		0x42ull	/* vmid_first: the parent's VMID */
#define VSID		0x10u
#define MAX_CMDS	160u
#define INV_SMMUV3	IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3

/* STE fields (arm-smmu-v3.h) the tests build guest STEs from. */
#define STE0_V		(1ull << 0)
#define STE0_CFG(c)	((uint64_t)(c) << 1)
#define STE0_S1FMT(f)	((uint64_t)(f) << 4)
#define STE0_CTXPTR(a)	((a) & 0x000fffffffffffc0ull)
#define STE0_CDMAX(n)	((uint64_t)(n) << 59)
#define STE1_EATS(e)	((uint64_t)(e) << 28)
#define STE0_ALLOWED	0xf80fffffffffffffull
#define STE1_ALLOWED	0x380000ffull
#define CFG_ABORT	0
#define CFG_BYPASS	4
#define CFG_S1		5

struct env {
	struct isim_machine *m;
	struct isim_iommu *iommu;
	struct isim_device *dev;
	struct isim_fd *fd;
	struct isim_cmdqv *hw;
	uint32_t ioas, dev_id, parent, viommu;
	unsigned type;			/* the vIOMMU type under test */
	uint32_t psid;
	/* Converted commands the trace showed, in issue order. */
	uint64_t issued[MAX_CMDS][2];
	unsigned nr_issued;
};

static struct env E;

/* The "cmdqv.invalidate" trace point: one line per issued command. */
static void trace_sink(void *arg, const struct isim_trace_event *ev)
{
	unsigned long long d0, d1;
	const char *p;

	(void)arg;
	if (strcmp(ev->point, "cmdqv.invalidate") || E.nr_issued >= MAX_CMDS)
		return;
	p = strstr(ev->args, "d0=");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "d0=%llx d1=%llx", &d0, &d1), 2);
	E.issued[E.nr_issued][0] = d0;
	E.issued[E.nr_issued][1] = d1;
	E.nr_issued++;
}

/* A vIOMMU of the type under test; the CMDQV one needs its data. */
static int viommu_new(uint32_t dev_id, uint32_t parent, uint32_t *out)
{
	struct iommu_viommu_tegra241_cmdqv d = { 0 };

	if (E.type == IOMMU_VIOMMU_TYPE_ARM_SMMUV3)
		return viommu_alloc(E.fd, dev_id, parent, E.type, out);
	return viommu_alloc_data(E.fd, dev_id, parent, E.type, &d, sizeof(d),
				 out);
}

static void setup_type(unsigned type)
{
	uint32_t pt;

	memset(&E, 0, sizeof(E));
	E.type = type;
	ck_assert_int_eq(isim_machine_new(NULL, &E.m), 0);
	ck_assert_int_eq(isim_open(E.m, &E.fd), 0);
	ck_assert_int_eq(isim_iommu_add(E.m, "tegra241-cmdqv",
					"vmid_first=0x42", &E.iommu), 0);
	ck_assert_int_eq(tegra241_cmdqv_model(E.iommu, &E.hw), 0);
	ck_assert_int_eq(isim_device_add(E.m, E.iommu, "gpu0", &E.dev), 0);
	ck_assert_int_eq(ioas_alloc(E.fd, &E.ioas), 0);
	ck_assert_int_eq(isim_device_bind(E.fd, E.dev, &E.dev_id), 0);
	pt = E.ioas;
	ck_assert_int_eq(isim_device_attach(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(hwpt_alloc(E.fd, E.dev_id, E.ioas,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &E.parent),
			 0);
	ck_assert_int_eq(viommu_new(E.dev_id, E.parent, &E.viommu), 0);
	ck_assert_int_eq(tegra241_cmdqv_device_sid(E.dev, &E.psid), 0);
	isim_trace_set_sink(E.m, trace_sink, NULL);
}

static void setup_vintf(void)
{
	setup_type(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV);
}

static void setup_vsmmu(void)
{
	setup_type(IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
}

static void teardown(void)
{
	char report[2048];

	isim_trace_set_sink(E.m, NULL, NULL);
	isim_close(E.fd);
	ck_assert_msg(isim_check(E.m, report, sizeof(report)) == 0, "%s",
		      report);
	isim_machine_free(E.m);
	memset(&E, 0, sizeof(E));
}

/* --------------------------------------------------------- nested HWPTs */

static int nested_alloc(uint64_t ste0, uint64_t ste1, uint32_t flags,
			uint32_t *out)
{
	struct iommu_hwpt_arm_smmuv3 arg = {
		.ste = { htole64(ste0), htole64(ste1) },
	};

	return hwpt_alloc_data(E.fd, E.dev_id, E.viommu, flags,
			       IOMMU_HWPT_DATA_ARM_SMMUV3, &arg, sizeof(arg),
			       out);
}

/* Allocate with @ste and check what the driver kept of it. */
static void nested_expect(uint64_t ste0, uint64_t ste1, uint64_t kept0,
			  uint64_t kept1, bool ats)
{
	uint64_t kept[2];
	uint32_t id;
	bool got_ats;

	ck_assert_int_eq(nested_alloc(ste0, ste1, 0, &id), 0);
	ck_assert_int_eq(tegra241_cmdqv_nested_ste(E.fd, id, kept, &got_ats),
			 0);
	ck_assert_uint_eq(kept[0], kept0);
	ck_assert_uint_eq(kept[1], kept1);
	ck_assert_int_eq(got_ats, ats);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
}

START_TEST(nested_ste_accepted)
{
	uint64_t s1 = STE0_V | STE0_CFG(CFG_S1) | STE0_S1FMT(1) |
		      STE0_CTXPTR(0x12345640ull) | STE0_CDMAX(5);
	uint64_t attrs = 0x080000ffull;	/* DSS, CIR, COR, CSH, STALLD */
	struct iommu_hwpt_arm_smmuv3 arg[2] = { 0 };
	uint32_t id;

	/* No V: kept as all zeros whatever else is set. */
	nested_expect(~STE0_V, ~0ull, 0, 0, false);
	nested_expect(STE0_V | STE0_CFG(CFG_ABORT), 0,
		      STE0_V | STE0_CFG(CFG_ABORT), 0, false);
	/* EATS is the host's to set: stripped, and ATS only with stage 1. */
	nested_expect(STE0_V | STE0_CFG(CFG_BYPASS), STE1_EATS(1),
		      STE0_V | STE0_CFG(CFG_BYPASS), 0, false);
	nested_expect(s1, attrs | STE1_EATS(1), s1, attrs, true);
	nested_expect(s1, attrs, s1, attrs, false);
	/* Every allowed bit at once. */
	nested_expect((STE0_ALLOWED & ~STE0_CFG(7)) | STE0_CFG(CFG_S1),
		      (STE1_ALLOWED & ~STE1_EATS(3)) | STE1_EATS(1),
		      (STE0_ALLOWED & ~STE0_CFG(7)) | STE0_CFG(CFG_S1),
		      STE1_ALLOWED & ~STE1_EATS(3), true);

	/* A longer struct is fine if zero past the STE. */
	arg[0].ste[0] = htole64(STE0_V);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_ARM_SMMUV3, arg,
					 sizeof(arg), &id), 0);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
}
END_TEST

START_TEST(nested_ste_rejected)
{
	static const struct {
		uint64_t ste0, ste1;
		uint32_t flags;
		int err;
	} bad[] = {
		/* Host-owned bits in word 0 (S2 fields, stream world). */
		{ STE0_V | 1ull << 52, 0, 0, -EIO },
		{ STE0_V | 1ull << 58, 0, 0, -EIO },
		/* ... and in word 1 (S1 MPAM, STRW, SHCFG, ...). */
		{ STE0_V, 1ull << 8, 0, -EIO },
		{ STE0_V, 1ull << 26, 0, -EIO },
		{ STE0_V, 1ull << 30, 0, -EIO },
		{ STE0_V, 1ull << 63, 0, -EIO },
		/* Only abort, bypass and stage-1 translate. */
		{ STE0_V | STE0_CFG(1), 0, 0, -EIO },
		{ STE0_V | STE0_CFG(3), 0, 0, -EIO },
		{ STE0_V | STE0_CFG(6), 0, 0, -EIO },
		{ STE0_V | STE0_CFG(7), 0, 0, -EIO },
		/* EATS: full ATS or none; S1CHK and the reserved value not. */
		{ STE0_V | STE0_CFG(CFG_S1), STE1_EATS(2), 0, -EIO },
		{ STE0_V | STE0_CFG(CFG_S1), STE1_EATS(3), 0, -EIO },
		/* The driver takes no flags, PASID included. */
		{ STE0_V, 0, IOMMU_HWPT_ALLOC_PASID, -EOPNOTSUPP },
		/* The core refuses other flags before the driver. */
		{ STE0_V, 0, IOMMU_HWPT_ALLOC_NEST_PARENT, -EOPNOTSUPP },
	};
	uint64_t longer[3] = { htole64(STE0_V), 0, 1 };
	uint32_t id = 0, before, after;

	ck_assert_int_eq(ioas_alloc(E.fd, &before), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(nested_alloc(bad[i].ste0, bad[i].ste1,
					   bad[i].flags, &id) == bad[i].err,
			      "row %zu", i);
	/* The data: this type, at least both STE words, a zero tail. */
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_SELFTEST, longer, 16,
					 &id), -EINVAL);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_ARM_SMMUV3, longer, 8,
					 &id), -EINVAL);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_ARM_SMMUV3, longer,
					 sizeof(longer), &id), -E2BIG);
	ck_assert_int_eq(hwpt_alloc_data(E.fd, E.dev_id, E.viommu, 0,
					 IOMMU_HWPT_DATA_ARM_SMMUV3, NULL, 16,
					 &id), -EFAULT);
	ck_assert_uint_eq(id, 0);
	/* Nothing kept: no ID used up, no reference left on the vIOMMU. */
	ck_assert_int_eq(ioas_alloc(E.fd, &after), 0);
	ck_assert_uint_eq(after, before + 1);
	assert_invariants(E.m);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), 0);
}
END_TEST

/* The core's attach rules hold for these nested HWPTs too. */
START_TEST(nested_attach)
{
	uint64_t kept[2];
	uint32_t id, pt, vdev;
	bool ats;

	ck_assert_int_eq(nested_alloc(STE0_V | STE0_CFG(CFG_BYPASS), 0, 0, &id),
			 0);
	/* No vDEVICE on this vIOMMU: no vSID for the device's events. */
	pt = id;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), -ENOENT);
	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, VSID, &vdev), 0);
	pt = id;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	/* The domain holds its vIOMMU; the attachment holds the domain. */
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), -EBUSY);
	ck_assert_int_eq(obj_destroy(E.fd, id), -EBUSY);
	/* Only this driver's nested HWPTs answer the STE query. */
	ck_assert_int_eq(tegra241_cmdqv_nested_ste(E.fd, E.parent, kept, &ats),
			 -ENOENT);
	pt = E.ioas;
	ck_assert_int_eq(isim_device_replace(E.fd, E.dev_id, &pt), 0);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);
}
END_TEST

/* ------------------------------------------------------- invalidation */

/* IOMMU_HWPT_INVALIDATE on the vIOMMU; *done gets entry_num back. */
static int inv_len(const uint64_t (*cmds)[2], uint32_t n, uint32_t entry_len,
		   uint32_t *done)
{
	static uint8_t buf[MAX_CMDS * 24];

	ck_assert_uint_le(n * entry_len, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	for (uint32_t i = 0; i < n; i++) {
		uint64_t le[2] = { htole64(cmds[i][0]), htole64(cmds[i][1]) };

		memcpy(buf + (size_t)i * entry_len, le,
		       entry_len < sizeof(le) ? entry_len : sizeof(le));
	}
	*done = n;
	return hwpt_invalidate(E.fd, E.viommu, INV_SMMUV3, buf, entry_len,
			       done);
}

static int inv(const uint64_t (*cmds)[2], uint32_t n, uint32_t *done)
{
	return inv_len(cmds, n, ISIM_SMMU_CMD_SIZE, done);
}

static void enc(uint64_t dw[2], const struct isim_smmu_cmd *c)
{
	ck_assert_int_eq(isim_smmu_cmd_encode(c, dw), 0);
}

static void counts(uint64_t cmds, uint64_t batches)
{
	uint64_t c, b;

	ck_assert_int_eq(tegra241_cmdqv_viommu_invalidations(E.fd, E.viommu,
							     &c, &b), 0);
	ck_assert_uint_eq(c, cmds);
	ck_assert_uint_eq(b, batches);
}

START_TEST(tlbi_gets_the_vmid)
{
	uint64_t cmds[2][2];
	uint32_t done;

	isim_cmdqv_iotlb_insert(E.hw, VMID, 7, 0x1000);
	isim_cmdqv_iotlb_insert(E.hw, VMID, 8, 0x1000);
	isim_cmdqv_iotlb_insert(E.hw, 0x99, 7, 0x1000);
	isim_cmdqv_iotlb_insert(E.hw, VMID, 9, 0x3000);

	/* The guest's VMID (0x99) is replaced by the VM's. */
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[0], 0x99, 7), 0);
	ck_assert_int_eq(inv(cmds, 1, &done), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(E.nr_issued, 1);
	ck_assert_uint_eq(E.issued[0][0], 0x11 | VMID << 32 | 7ull << 48);
	ck_assert_uint_eq(E.issued[0][1], 0);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 7, 0x1000));
	ck_assert(isim_cmdqv_iotlb_has(E.hw, 0x99, 7, 0x1000));
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 8, 0x1000));

	/* By VA with and without ASID, one batch of two. */
	ck_assert_int_eq(isim_smmu_tlbi_nh_va(cmds[0], 7, 8, 0x1000, true), 0);
	ck_assert_int_eq(isim_smmu_tlbi_nh_vaa(cmds[1], 0, 0x3000, false), 0);
	ck_assert_int_eq(inv(cmds, 2, &done), 0);
	ck_assert_uint_eq(done, 2);
	ck_assert_uint_eq(E.issued[1][0], 0x12 | VMID << 32 | 8ull << 48);
	ck_assert_uint_eq(E.issued[1][1], cmds[0][1]);
	ck_assert_uint_eq(E.issued[2][0], 0x13 | VMID << 32);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 8, 0x1000));
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 9, 0x3000));
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(E.hw), 1);

	/* NH_ALL naming another VM flushes this one's. */
	isim_cmdqv_iotlb_insert(E.hw, VMID, 1, 0x1000);
	ck_assert_int_eq(isim_smmu_tlbi_nh_all(cmds[0], 0x99), 0);
	ck_assert_int_eq(inv(cmds, 1, &done), 0);
	ck_assert_uint_eq(E.issued[3][0], 0x10 | VMID << 32);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 1, 0x1000));
	ck_assert(isim_cmdqv_iotlb_has(E.hw, 0x99, 7, 0x1000));

	/* A global NSNH_ALL becomes NH_ALL of this VM, dword 1 cleared. */
	isim_cmdqv_iotlb_insert(E.hw, VMID, 2, 0x2000);
	cmds[0][0] = ISIM_SMMU_OP_TLBI_NSNH_ALL | 0xabcdull << 32 | 1u << 12;
	cmds[0][1] = 0x1234000;
	ck_assert_int_eq(inv(cmds, 1, &done), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(E.issued[4][0], 0x10 | VMID << 32);
	ck_assert_uint_eq(E.issued[4][1], 0);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 2, 0x2000));
	ck_assert(isim_cmdqv_iotlb_has(E.hw, 0x99, 7, 0x1000));
	counts(5, 4);
}
END_TEST

START_TEST(vsid_becomes_psid)
{
	struct isim_smmu_cmd cd = {
		.op = ISIM_SMMU_OP_CFGI_CD, .sid = VSID, .ssid = 3,
		.leaf = true,
	};
	struct isim_smmu_cmd cd_all = {
		.op = ISIM_SMMU_OP_CFGI_CD_ALL, .sid = VSID,
	};
	uint32_t vdev, done, dev2_id, pt, viommu2, vdev2;
	struct isim_device *dev2;
	uint64_t cmds[2][2];

	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, VSID, &vdev), 0);
	ck_assert_uint_eq(E.psid, 0x100);
	isim_cmdqv_atc_insert(E.hw, E.psid, 0, 0x5000);
	isim_cmdqv_atc_insert(E.hw, VSID, 0, 0x5000);

	/* The device's ATC is invalidated, not whatever sits at the vSID. */
	ck_assert_int_eq(isim_smmu_atc_inv(cmds[0], VSID, 0x5000, 0), 0);
	ck_assert_int_eq(inv(cmds, 1, &done), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(E.issued[0][0], 0x40 | (uint64_t)E.psid << 32);
	ck_assert(!isim_cmdqv_atc_has(E.hw, E.psid, 0, 0x5000));
	ck_assert(isim_cmdqv_atc_has(E.hw, VSID, 0, 0x5000));

	/* The CD invalidations: only the SID changes. */
	enc(cmds[0], &cd);
	enc(cmds[1], &cd_all);
	ck_assert_int_eq(inv(cmds, 2, &done), 0);
	ck_assert_uint_eq(done, 2);
	ck_assert_uint_eq(E.issued[1][0], (cmds[0][0] & 0xffffffffull) |
						  (uint64_t)E.psid << 32);
	ck_assert_uint_eq(E.issued[1][1], cmds[0][1]);
	ck_assert_uint_eq(E.issued[2][0], 0x06 | (uint64_t)E.psid << 32);
	counts(3, 2);

	/* A vSID no vDEVICE of this vIOMMU has: EIO, at that entry. */
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[0], 0, 1), 0);
	ck_assert_int_eq(isim_smmu_atc_inv(cmds[1], VSID + 1, 0, 52), 0);
	ck_assert_int_eq(inv(cmds, 2, &done), -EIO);
	ck_assert_uint_eq(done, 1);

	/* Another vIOMMU's vDEVICE does not count either. */
	ck_assert_int_eq(isim_device_add(E.m, E.iommu, "gpu1", &dev2), 0);
	ck_assert_int_eq(isim_device_bind(E.fd, dev2, &dev2_id), 0);
	pt = E.ioas;
	ck_assert_int_eq(isim_device_attach(E.fd, dev2_id, &pt), 0);
	ck_assert_int_eq(viommu_new(dev2_id, E.parent, &viommu2), 0);
	ck_assert_int_eq(vdev_alloc(E.fd, viommu2, dev2_id, VSID + 1, &vdev2),
			 0);
	ck_assert_int_eq(inv(cmds + 1, 1, &done), -EIO);
	ck_assert_uint_eq(done, 0);

	/* Nor does a destroyed one. */
	ck_assert_int_eq(obj_destroy(E.fd, vdev), 0);
	enc(cmds[0], &cd_all);
	ck_assert_int_eq(inv(cmds, 1, &done), -EIO);
	ck_assert_uint_eq(done, 0);
	counts(3, 2);
	ck_assert_uint_eq(E.nr_issued, 3);
}
END_TEST

START_TEST(refused_commands)
{
	/* Everything but the NH TLBIs, NSNH_ALL, ATC_INV and CFGI_CD(_ALL). */
	static const uint8_t ops[] = {
		0x00, ISIM_SMMU_OP_PREFETCH_CFG, ISIM_SMMU_OP_PREFETCH_ADDR,
		ISIM_SMMU_OP_CFGI_STE, ISIM_SMMU_OP_CFGI_STE_RANGE,
		ISIM_SMMU_OP_TLBI_EL3_ALL, ISIM_SMMU_OP_TLBI_EL2_ALL,
		ISIM_SMMU_OP_TLBI_EL2_ASID, ISIM_SMMU_OP_TLBI_EL2_VA,
		ISIM_SMMU_OP_TLBI_S12_VMALL, ISIM_SMMU_OP_TLBI_S2_IPA,
		ISIM_SMMU_OP_PRI_RESP, ISIM_SMMU_OP_RESUME,
		ISIM_SMMU_OP_STALL_TERM, ISIM_SMMU_OP_CMD_SYNC, 0x7f, 0xff,
	};
	uint64_t cmds[2][2] = { { 0 } };
	uint32_t done;

	isim_cmdqv_iotlb_insert(E.hw, VMID, 1, 0x1000);
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[0], 0, 1), 0);
	for (size_t i = 0; i < sizeof(ops); i++) {
		cmds[1][0] = ops[i] | (uint64_t)VSID << 32;
		ck_assert_msg(inv(cmds, 2, &done) == -EIO, "op %#x", ops[i]);
		ck_assert_uint_eq(done, 1);
	}
	/* Refused in the same batch: the TLBI ahead of it never went out. */
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 1, 0x1000));
	ck_assert_uint_eq(E.nr_issued, 0);
	counts(0, 0);
}
END_TEST

/* The array rules of iommu_copy_struct_from_full_user_array(). */
START_TEST(array_rules)
{
	uint64_t cmds[2][2];
	uint8_t tail[2][24] = { { 0 } };
	uint32_t done;

	isim_cmdqv_iotlb_insert(E.hw, VMID, 1, 0x1000);
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[0], 0, 1), 0);
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[1], 0, 2), 0);

	/* Another data type, an empty array: EINVAL, nothing handled. */
	done = 1;
	ck_assert_int_eq(hwpt_invalidate(E.fd, E.viommu,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 cmds, 16, &done), -EINVAL);
	ck_assert_uint_eq(done, 0);
	done = 0;
	ck_assert_int_eq(hwpt_invalidate(E.fd, E.viommu,
					 INV_SMMUV3,
					 cmds, 16, &done), -EINVAL);
	ck_assert_uint_eq(done, 0);
	/* An unreadable array. */
	done = 1;
	ck_assert_int_eq(hwpt_invalidate(E.fd, E.viommu,
					 INV_SMMUV3,
					 (void *)16, 16, &done), -EFAULT);
	ck_assert_uint_eq(done, 0);
	/* A longer entry must be zero past 16 bytes; a bad second entry
	 * fails the call before anything is converted. */
	memcpy(tail[0], (uint64_t[2]){ htole64(cmds[0][0]), 0 }, 16);
	memcpy(tail[1], (uint64_t[2]){ htole64(cmds[1][0]), 0 }, 16);
	tail[1][20] = 1;
	done = 2;
	ck_assert_int_eq(hwpt_invalidate(E.fd, E.viommu,
					 INV_SMMUV3,
					 tail, 24, &done), -E2BIG);
	ck_assert_uint_eq(done, 0);
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 1, 0x1000));
	tail[1][20] = 0;
	ck_assert_int_eq(inv_len(cmds, 2, 24, &done), 0);
	ck_assert_uint_eq(done, 2);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 1, 0x1000));
	/* A shorter one is zero-extended: dword 1 reads as 0. */
	isim_cmdqv_iotlb_insert(E.hw, VMID, 1, 0x1000);
	ck_assert_int_eq(inv_len(cmds, 1, 8, &done), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert(!isim_cmdqv_iotlb_has(E.hw, VMID, 1, 0x1000));
	counts(3, 2);
}
END_TEST

/* @n TLBI_NH_ASIDs for ASIDs @first.., each with an IOTLB entry. */
static void asid_cmds(uint64_t (*cmds)[2], uint32_t n, uint16_t first)
{
	for (uint32_t i = 0; i < n; i++) {
		uint16_t asid = (uint16_t)(first + i);

		isim_cmdqv_iotlb_insert(E.hw, VMID, asid, 0x1000);
		ck_assert_int_eq(isim_smmu_tlbi_nh_asid(cmds[i], 0, asid), 0);
	}
}

/*
 * @n commands for ASIDs @first.. with the last one refused: EIO, and
 * entry_num says @n - 1 however many of them were really sent.
 */
static void refuse_last(uint64_t (*cmds)[2], uint32_t n, uint16_t first)
{
	uint32_t done;

	asid_cmds(cmds, n, first);
	cmds[n - 1][0] = ISIM_SMMU_OP_CMD_SYNC;
	ck_assert_int_eq(inv(cmds, n, &done), -EIO);
	ck_assert_uint_eq(done, n - 1);
}

/* Batches of 63 go out as converted; a refusal drops its own batch. */
START_TEST(batches_of_63)
{
	static uint64_t cmds[MAX_CMDS][2];
	uint32_t done;

	/* 127 good commands: 63 + 63 + 1. */
	asid_cmds(cmds, 127, 1);
	ck_assert_int_eq(inv(cmds, 127, &done), 0);
	ck_assert_uint_eq(done, 127);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(E.hw), 0);
	counts(127, 3);
	ck_assert_int_eq(inv(cmds, 126, &done), 0);
	counts(253, 5);

	/* The 64th refused: the first batch is already out. */
	refuse_last(cmds, 64, 1);
	counts(316, 6);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(E.hw), 1);
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 64, 0x1000));

	/* The 65th refused: the 64th was converted, counted, never sent. */
	refuse_last(cmds, 65, 101);
	counts(379, 7);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(E.hw), 3);
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 164, 0x1000));
	ck_assert(isim_cmdqv_iotlb_has(E.hw, VMID, 165, 0x1000));
}
END_TEST

/*
 * @op with its nth fallible step failing, for nth = 1, 2, ... until it
 * succeeds: each failure is an errno, and once the objects @op made (in
 * @ids, in order) are destroyed, last first, nothing leaks and the
 * invariants hold.  Returns the nth that succeeded.
 */
static unsigned fail_nth_sweep(int (*op)(uint32_t ids[2]))
{
	unsigned nth, done_at = 0;

	for (nth = 1; nth < 100 && !done_at; nth++) {
		uint32_t ids[2] = { 0, 0 };
		int rc;

		isim_fail_nth_set(nth);
		rc = op(ids);
		isim_fail_nth_set(0);
		if (!rc)
			done_at = nth;
		else
			ck_assert_int_lt(rc, 0);
		for (unsigned i = 2; i-- > 0;)
			if (ids[i])
				ck_assert_int_eq(obj_destroy(E.fd, ids[i]), 0);
		assert_invariants(E.m);
	}
	return done_at;
}

/* A nested HWPT, then an invalidation on the vIOMMU. */
static int nested_then_inv(uint32_t ids[2])
{
	uint64_t cmds[1][2];
	uint32_t done;
	int rc;

	ck_assert_int_eq(isim_smmu_tlbi_nh_all(cmds[0], 0), 0);
	rc = nested_alloc(STE0_V | STE0_CFG(CFG_S1), 0, 0, &ids[0]);
	return rc ? rc : inv(cmds, 1, &done);
}

/* Every fallible step of both ops fails once: no leak, invariants hold. */
START_TEST(fail_nth)
{
	ck_assert_uint_gt(fail_nth_sweep(nested_then_inv), 1);
}
END_TEST

/* ------------------------------------------ the plain SMMUv3 vIOMMU */

#define SMMUV3		IOMMU_VIOMMU_TYPE_ARM_SMMUV3

/* The VMID vIOMMU @id puts on a TLBI, as the trace saw it issued. */
static uint64_t vmid_of(uint32_t id)
{
	uint64_t cmd[2];
	uint32_t done = 1;

	ck_assert_int_eq(isim_smmu_tlbi_nh_all(cmd, 0), 0);
	cmd[0] = htole64(cmd[0]);
	cmd[1] = htole64(cmd[1]);
	ck_assert_int_eq(hwpt_invalidate(E.fd, id, INV_SMMUV3, cmd, 16, &done),
			 0);
	ck_assert_uint_gt(E.nr_issued, 0);
	return E.issued[E.nr_issued - 1][0] >> 32 & 0xffff;
}

/* arm_smmu_get_viommu_size() and arm_vsmmu_init() for the plain type. */
START_TEST(smmuv3_alloc)
{
	struct iommu_viommu_tegra241_cmdqv d = { 0x1111, 0x2222 };
	struct isim_cmdqv_vintf *v;
	uint32_t id, cmdqv_id;
	uint64_t c, b;

	/* The vSMMU part alone: no VINTF, the parent's VMID. */
	ck_assert_int_eq(tegra241_cmdqv_viommu_vintf(E.fd, E.viommu, &v),
			 -EINVAL);
	ck_assert_int_eq(tegra241_cmdqv_viommu_invalidations(E.fd, E.viommu,
							     &c, &b), 0);
	ck_assert_uint_eq(c + b, 0);
	ck_assert_uint_eq(vmid_of(E.viommu), VMID);

	/* Data is not looked at for this type: accepted, nothing written. */
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, E.parent, SMMUV3,
					   &d, sizeof(d), &id), 0);
	ck_assert_uint_eq(d.out_vintf_mmap_offset, 0x1111);
	ck_assert_uint_eq(d.out_vintf_mmap_length, 0x2222);
	ck_assert_uint_eq(vmid_of(id), VMID);
	ck_assert_int_eq(obj_destroy(E.fd, id), 0);

	/* No VINTF taken: a CMDQV vIOMMU still gets VINTF1, same VMID. */
	d = (struct iommu_viommu_tegra241_cmdqv){ 0 };
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, E.parent,
					   IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
					   &d, sizeof(d), &cmdqv_id), 0);
	ck_assert_int_eq(tegra241_cmdqv_viommu_vintf(E.fd, cmdqv_id, &v), 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_id(v), 1);
	ck_assert_uint_eq(ISIM_CMDQV_VINTF_VMID(isim_cmdqv_vintf_config_reg(v)),
			  VMID);
	ck_assert_int_eq(obj_destroy(E.fd, cmdqv_id), 0);

	/* The vIOMMU holds its parent. */
	ck_assert_int_eq(obj_destroy(E.fd, E.parent), -EBUSY);
	ck_assert_int_eq(obj_destroy(E.fd, E.viommu), 0);
	ck_assert_int_eq(obj_destroy(E.fd, E.parent), 0);
}
END_TEST

/* A parent of another SMMU: EINVAL, with or without data, nothing kept. */
START_TEST(smmuv3_foreign_parent)
{
	struct iommu_viommu_tegra241_cmdqv d = { 0 };
	uint32_t dev_b, parent_b, parent2, before, after, id = 0;
	struct isim_iommu *iommu_b;
	struct isim_device *gpu_b;

	/* A second SMMU whose device is bound but attached nowhere. */
	ck_assert_int_eq(isim_iommu_add(E.m, "tegra241-cmdqv",
					"vmid_first=0x42", &iommu_b), 0);
	ck_assert_int_eq(isim_device_add(E.m, iommu_b, "gpu_b", &gpu_b), 0);
	ck_assert_int_eq(isim_device_bind(E.fd, gpu_b, &dev_b), 0);
	ck_assert_int_eq(hwpt_alloc(E.fd, dev_b, E.ioas,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent_b),
			 0);

	ck_assert_int_eq(ioas_alloc(E.fd, &before), 0);
	ck_assert_int_eq(viommu_alloc(E.fd, E.dev_id, parent_b, SMMUV3, &id),
			 -EINVAL);
	ck_assert_int_eq(viommu_alloc_data(E.fd, E.dev_id, parent_b, SMMUV3,
					   &d, sizeof(d), &id), -EINVAL);
	ck_assert_uint_eq(id, 0);
	/* No ID used up, no reference left on the parent. */
	ck_assert_int_eq(ioas_alloc(E.fd, &after), 0);
	ck_assert_uint_eq(after, before + 1);
	assert_invariants(E.m);
	ck_assert_int_eq(obj_destroy(E.fd, parent_b), 0);

	/* No VMID taken: a new parent gets the next, and gets it back. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(hwpt_alloc(E.fd, E.dev_id, E.ioas,
					    IOMMU_HWPT_ALLOC_NEST_PARENT,
					    &parent2), 0);
		ck_assert_int_eq(viommu_alloc(E.fd, E.dev_id, parent2, SMMUV3,
					      &id), 0);
		ck_assert_uint_eq(vmid_of(id), VMID + 1);
		ck_assert_int_eq(obj_destroy(E.fd, id), 0);
		ck_assert_int_eq(obj_destroy(E.fd, parent2), 0);
	}

	/* Instance B takes its own parent, with its own VMIDs ... */
	ck_assert_int_eq(hwpt_alloc(E.fd, dev_b, E.ioas,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &parent_b),
			 0);
	ck_assert_int_eq(viommu_alloc(E.fd, dev_b, parent_b, SMMUV3, &id), 0);
	ck_assert_uint_eq(vmid_of(id), VMID);
	/* ... and refuses instance A's. */
	ck_assert_int_eq(viommu_alloc(E.fd, dev_b, E.parent, SMMUV3, &id),
			 -EINVAL);
}
END_TEST

/* The ops have no get_hw_queue_size: the core's EOPNOTSUPP, nothing kept. */
START_TEST(smmuv3_no_hw_queue)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = E.viommu,
		.type = IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
		.length = 4096,
	};
	uint32_t before, after, vdev;

	ck_assert_int_eq(ioas_alloc(E.fd, &before), 0);
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_HW_QUEUE_ALLOC, &cmd),
			 -EOPNOTSUPP);
	ck_assert_int_eq(vdev_alloc(E.fd, E.viommu, E.dev_id, VSID, &vdev), 0);
	ck_assert_int_eq(isim_ioctl(E.fd, IOMMU_HW_QUEUE_ALLOC, &cmd),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(cmd.out_hw_queue_id, 0);
	ck_assert_int_eq(ioas_alloc(E.fd, &after), 0);
	ck_assert_uint_eq(after, before + 2);
	assert_invariants(E.m);
}
END_TEST

/* The nesting parent smmuv3_fail_nth allocates on. */
static uint32_t sweep_parent;

/* A plain vIOMMU on sweep_parent, then a vDEVICE on it. */
static int viommu_then_vdev(uint32_t ids[2])
{
	int rc = viommu_alloc(E.fd, E.dev_id, sweep_parent, SMMUV3, &ids[0]);

	return rc ? rc : vdev_alloc(E.fd, ids[0], E.dev_id, VSID, &ids[1]);
}

/* Every fallible step of the alloc and of a vDEVICE on it fails once. */
START_TEST(smmuv3_fail_nth)
{
	uint32_t id;

	ck_assert_int_eq(hwpt_alloc(E.fd, E.dev_id, E.ioas,
				    IOMMU_HWPT_ALLOC_NEST_PARENT,
				    &sweep_parent), 0);
	ck_assert_uint_gt(fail_nth_sweep(viommu_then_vdev), 1);
	/* Every VMID came back: the parent's is still the next free one. */
	ck_assert_int_eq(viommu_alloc(E.fd, E.dev_id, sweep_parent, SMMUV3,
				      &id), 0);
	ck_assert_uint_eq(vmid_of(id), VMID + 1);
}
END_TEST

/* The vSMMU tests, once per vIOMMU type (@setup makes E.viommu). */
static void add_vsmmu_tcases(Suite *s, const char *nested_name,
			     const char *inv_name, void (*setup)(void))
{
	TCase *tn = tcase_create(nested_name);
	TCase *ti = tcase_create(inv_name);

	tcase_add_checked_fixture(tn, setup, teardown);
	tcase_add_test(tn, nested_ste_accepted);
	tcase_add_test(tn, nested_ste_rejected);
	tcase_add_test(tn, nested_attach);
	suite_add_tcase(s, tn);

	tcase_add_checked_fixture(ti, setup, teardown);
	tcase_add_test(ti, tlbi_gets_the_vmid);
	tcase_add_test(ti, vsid_becomes_psid);
	tcase_add_test(ti, refused_commands);
	tcase_add_test(ti, array_rules);
	tcase_add_test(ti, batches_of_63);
	tcase_add_test(ti, fail_nth);
	suite_add_tcase(s, ti);
}

static Suite *vsmmu_suite(void)
{
	Suite *s = suite_create("tegra241_vsmmu");
	TCase *tp = tcase_create("smmuv3");

	add_vsmmu_tcases(s, "nested", "invalidate", setup_vintf);
	add_vsmmu_tcases(s, "nested_smmuv3", "invalidate_smmuv3",
			 setup_vsmmu);

	tcase_add_checked_fixture(tp, setup_vsmmu, teardown);
	tcase_add_test(tp, smmuv3_alloc);
	tcase_add_test(tp, smmuv3_foreign_parent);
	tcase_add_test(tp, smmuv3_no_hw_queue);
	tcase_add_test(tp, smmuv3_fail_nth);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	return run_suite(vsmmu_suite());
}
