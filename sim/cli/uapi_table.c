/*
 * The uAPI as the scenario language sees it: for every iommufd ioctl, its
 * name without IOMMU_, its request number, and one table of the struct's
 * scalar members (name, offset, size, and the enum or flag names a member
 * takes, short and full).  Everything is computed from the headers in
 * include/uapi with offsetof/sizeof, so the tables cannot drift from the
 * ABI.  Members of IOMMU_TEST_CMD's union are named like C designators
 * (`mock_domain.out_hwpt_id`).
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/cli/cli.h"

#define SYM(prefix, name) { #name, #prefix #name, prefix##name }
#define END { NULL, NULL, 0 }

static const struct cli_sym map_flags[] = {
	SYM(IOMMU_IOAS_MAP_, FIXED_IOVA),
	SYM(IOMMU_IOAS_MAP_, WRITEABLE),
	SYM(IOMMU_IOAS_MAP_, READABLE),
	END
};

static const struct cli_sym option_ids[] = {
	SYM(IOMMU_OPTION_, RLIMIT_MODE),
	SYM(IOMMU_OPTION_, HUGE_PAGES),
	END
};

static const struct cli_sym option_ops[] = {
	SYM(IOMMU_OPTION_OP_, SET),
	SYM(IOMMU_OPTION_OP_, GET),
	END
};

static const struct cli_sym vfio_ops[] = {
	SYM(IOMMU_VFIO_IOAS_, GET),
	SYM(IOMMU_VFIO_IOAS_, SET),
	SYM(IOMMU_VFIO_IOAS_, CLEAR),
	END
};

static const struct cli_sym hwpt_flags[] = {
	SYM(IOMMU_HWPT_ALLOC_, NEST_PARENT),
	SYM(IOMMU_HWPT_ALLOC_, DIRTY_TRACKING),
	SYM(IOMMU_HWPT_, FAULT_ID_VALID),
	SYM(IOMMU_HWPT_ALLOC_, PASID),
	END
};

static const struct cli_sym hwpt_data_types[] = {
	SYM(IOMMU_HWPT_DATA_, NONE),
	SYM(IOMMU_HWPT_DATA_, VTD_S1),
	SYM(IOMMU_HWPT_DATA_, ARM_SMMUV3),
	SYM(IOMMU_HWPT_DATA_, AMD_GUEST),
	SYM(IOMMU_HWPT_DATA_, SELFTEST),
	END
};

static const struct cli_sym hw_info_flags[] = {
	SYM(IOMMU_HW_INFO_FLAG_, INPUT_TYPE),
	END
};

static const struct cli_sym hw_info_types[] = {
	SYM(IOMMU_HW_INFO_TYPE_, DEFAULT),
	SYM(IOMMU_HW_INFO_TYPE_, INTEL_VTD),
	SYM(IOMMU_HW_INFO_TYPE_, ARM_SMMUV3),
	SYM(IOMMU_HW_INFO_TYPE_, TEGRA241_CMDQV),
	SYM(IOMMU_HW_INFO_TYPE_, AMD),
	SYM(IOMMU_HW_INFO_TYPE_, SELFTEST),
	END
};

static const struct cli_sym dirty_tracking_flags[] = {
	SYM(IOMMU_HWPT_DIRTY_TRACKING_, ENABLE),
	END
};

static const struct cli_sym dirty_bitmap_flags[] = {
	SYM(IOMMU_HWPT_GET_DIRTY_BITMAP_, NO_CLEAR),
	END
};

static const struct cli_sym invalidate_types[] = {
	SYM(IOMMU_HWPT_INVALIDATE_DATA_, VTD_S1),
	SYM(IOMMU_VIOMMU_INVALIDATE_DATA_, ARM_SMMUV3),
	SYM(IOMMU_HWPT_INVALIDATE_DATA_, SELFTEST),
	SYM(IOMMU_HWPT_INVALIDATE_DATA_, SELFTEST_INVALID),
	SYM(IOMMU_VIOMMU_INVALIDATE_DATA_, SELFTEST),
	SYM(IOMMU_VIOMMU_INVALIDATE_DATA_, SELFTEST_INVALID),
	END
};

static const struct cli_sym viommu_types[] = {
	SYM(IOMMU_VIOMMU_TYPE_, DEFAULT),
	SYM(IOMMU_VIOMMU_TYPE_, ARM_SMMUV3),
	SYM(IOMMU_VIOMMU_TYPE_, TEGRA241_CMDQV),
	SYM(IOMMU_VIOMMU_TYPE_, AMD),
	SYM(IOMMU_VIOMMU_TYPE_, AMD_TSM),
	SYM(IOMMU_VIOMMU_TYPE_, SELFTEST),
	END
};

static const struct cli_sym veventq_types[] = {
	SYM(IOMMU_VEVENTQ_TYPE_, DEFAULT),
	SYM(IOMMU_VEVENTQ_TYPE_, ARM_SMMUV3),
	SYM(IOMMU_VEVENTQ_TYPE_, TEGRA241_CMDQV),
	SYM(IOMMU_VEVENTQ_TYPE_, SELFTEST),
	END
};

static const struct cli_sym hw_queue_types[] = {
	SYM(IOMMU_HW_QUEUE_TYPE_, DEFAULT),
	SYM(IOMMU_HW_QUEUE_TYPE_, TEGRA241_CMDQV),
	SYM(IOMMU_HW_QUEUE_TYPE_, AMD_CMD),
	SYM(IOMMU_HW_QUEUE_TYPE_, AMD_EVT),
	SYM(IOMMU_HW_QUEUE_TYPE_, AMD_PPR),
	SYM(IOMMU_HW_QUEUE_TYPE_, SELFTEST),
	END
};

static const struct cli_sym test_ops[] = {
	SYM(IOMMU_TEST_OP_, ADD_RESERVED),
	SYM(IOMMU_TEST_OP_, MOCK_DOMAIN),
	SYM(IOMMU_TEST_OP_, MD_CHECK_MAP),
	SYM(IOMMU_TEST_OP_, MD_CHECK_REFS),
	SYM(IOMMU_TEST_OP_, CREATE_ACCESS),
	SYM(IOMMU_TEST_OP_, DESTROY_ACCESS_PAGES),
	SYM(IOMMU_TEST_OP_, ACCESS_PAGES),
	SYM(IOMMU_TEST_OP_, ACCESS_RW),
	SYM(IOMMU_TEST_OP_, SET_TEMP_MEMORY_LIMIT),
	SYM(IOMMU_TEST_OP_, MOCK_DOMAIN_REPLACE),
	SYM(IOMMU_TEST_OP_, ACCESS_REPLACE_IOAS),
	SYM(IOMMU_TEST_OP_, MOCK_DOMAIN_FLAGS),
	SYM(IOMMU_TEST_OP_, DIRTY),
	SYM(IOMMU_TEST_OP_, MD_CHECK_IOTLB),
	SYM(IOMMU_TEST_OP_, TRIGGER_IOPF),
	SYM(IOMMU_TEST_OP_, DEV_CHECK_CACHE),
	SYM(IOMMU_TEST_OP_, TRIGGER_VEVENT),
	SYM(IOMMU_TEST_OP_, PASID_ATTACH),
	SYM(IOMMU_TEST_OP_, PASID_REPLACE),
	SYM(IOMMU_TEST_OP_, PASID_DETACH),
	SYM(IOMMU_TEST_OP_, PASID_CHECK_HWPT),
	END
};

/* Constants no single field owns; found by their full names only. */
static const struct cli_sym extra_consts[] = {
	SYM(MOCK_, APERTURE_START),
	SYM(MOCK_, APERTURE_LAST),
	SYM(MOCK_, PASID_WIDTH),
	SYM(MOCK_FLAGS_, ACCESS_WRITE),
	SYM(MOCK_FLAGS_, ACCESS_SYZ),
	SYM(MOCK_FLAGS_, ACCESS_CREATE_NEEDS_PIN_PAGES),
	SYM(MOCK_FLAGS_, DEVICE_NO_DIRTY),
	SYM(MOCK_FLAGS_, DEVICE_HUGE_IOVA),
	SYM(MOCK_FLAGS_, DEVICE_PASID),
	SYM(MOCK_ACCESS_RW_, WRITE),
	SYM(MOCK_ACCESS_RW_, SLOW_PATH),
	SYM(MOCK_NESTED_DOMAIN_IOTLB_, ID_MAX),
	SYM(MOCK_NESTED_DOMAIN_IOTLB_, NUM),
	SYM(MOCK_DEV_CACHE_, ID_MAX),
	SYM(MOCK_DEV_CACHE_, NUM),
	SYM(IOMMU_TEST_, PASID_RESERVED),
	SYM(IOMMU_TEST_, HW_QUEUE_MAX),
	SYM(IOMMU_TEST_, IOTLB_DEFAULT),
	SYM(IOMMU_TEST_, DEV_CACHE_DEFAULT),
	SYM(IOMMU_TEST_, INVALIDATE_FLAG_ALL),
	SYM(IOMMU_HW_INFO_, SELFTEST_REGVAL),
	SYM(IOMMU_HW_CAP_, DIRTY_TRACKING),
	SYM(IOMMU_HW_CAP_, PCI_PASID_EXEC),
	SYM(IOMMU_HW_CAP_, PCI_PASID_PRIV),
	SYM(IOMMU_VEVENTQ_FLAG_, LOST_EVENTS),
	{ "U32_MAX", "U32_MAX", UINT32_MAX },
	{ "U64_MAX", "U64_MAX", UINT64_MAX },
	END
};

#define FLD(st, m, syms)                                                   \
	{ #m, offsetof(struct st, m), sizeof(((struct st *)0)->m), syms }
#define FEND { NULL, 0, 0, NULL }

static const struct cli_field destroy_f[] = {
	FLD(iommu_destroy, size, NULL),
	FLD(iommu_destroy, id, NULL),
	FEND
};

static const struct cli_field ioas_alloc_f[] = {
	FLD(iommu_ioas_alloc, size, NULL),
	FLD(iommu_ioas_alloc, flags, NULL),
	FLD(iommu_ioas_alloc, out_ioas_id, NULL),
	FEND
};

static const struct cli_field allow_iovas_f[] = {
	FLD(iommu_ioas_allow_iovas, size, NULL),
	FLD(iommu_ioas_allow_iovas, ioas_id, NULL),
	FLD(iommu_ioas_allow_iovas, num_iovas, NULL),
	FLD(iommu_ioas_allow_iovas, __reserved, NULL),
	FLD(iommu_ioas_allow_iovas, allowed_iovas, NULL),
	FEND
};

static const struct cli_field ioas_copy_f[] = {
	FLD(iommu_ioas_copy, size, NULL),
	FLD(iommu_ioas_copy, flags, map_flags),
	FLD(iommu_ioas_copy, dst_ioas_id, NULL),
	FLD(iommu_ioas_copy, src_ioas_id, NULL),
	FLD(iommu_ioas_copy, length, NULL),
	FLD(iommu_ioas_copy, dst_iova, NULL),
	FLD(iommu_ioas_copy, src_iova, NULL),
	FEND
};

static const struct cli_field iova_ranges_f[] = {
	FLD(iommu_ioas_iova_ranges, size, NULL),
	FLD(iommu_ioas_iova_ranges, ioas_id, NULL),
	FLD(iommu_ioas_iova_ranges, num_iovas, NULL),
	FLD(iommu_ioas_iova_ranges, __reserved, NULL),
	FLD(iommu_ioas_iova_ranges, allowed_iovas, NULL),
	FLD(iommu_ioas_iova_ranges, out_iova_alignment, NULL),
	FEND
};

static const struct cli_field ioas_map_f[] = {
	FLD(iommu_ioas_map, size, NULL),
	FLD(iommu_ioas_map, flags, map_flags),
	FLD(iommu_ioas_map, ioas_id, NULL),
	FLD(iommu_ioas_map, __reserved, NULL),
	FLD(iommu_ioas_map, user_va, NULL),
	FLD(iommu_ioas_map, length, NULL),
	FLD(iommu_ioas_map, iova, NULL),
	FEND
};

static const struct cli_field ioas_map_file_f[] = {
	FLD(iommu_ioas_map_file, size, NULL),
	FLD(iommu_ioas_map_file, flags, map_flags),
	FLD(iommu_ioas_map_file, ioas_id, NULL),
	FLD(iommu_ioas_map_file, fd, NULL),
	FLD(iommu_ioas_map_file, start, NULL),
	FLD(iommu_ioas_map_file, length, NULL),
	FLD(iommu_ioas_map_file, iova, NULL),
	FEND
};

static const struct cli_field ioas_unmap_f[] = {
	FLD(iommu_ioas_unmap, size, NULL),
	FLD(iommu_ioas_unmap, ioas_id, NULL),
	FLD(iommu_ioas_unmap, iova, NULL),
	FLD(iommu_ioas_unmap, length, NULL),
	FEND
};

static const struct cli_field option_f[] = {
	FLD(iommu_option, size, NULL),
	FLD(iommu_option, option_id, option_ids),
	FLD(iommu_option, op, option_ops),
	FLD(iommu_option, __reserved, NULL),
	FLD(iommu_option, object_id, NULL),
	FLD(iommu_option, val64, NULL),
	FEND
};

static const struct cli_field vfio_ioas_f[] = {
	FLD(iommu_vfio_ioas, size, NULL),
	FLD(iommu_vfio_ioas, ioas_id, NULL),
	FLD(iommu_vfio_ioas, op, vfio_ops),
	FLD(iommu_vfio_ioas, __reserved, NULL),
	FEND
};

static const struct cli_field hwpt_alloc_f[] = {
	FLD(iommu_hwpt_alloc, size, NULL),
	FLD(iommu_hwpt_alloc, flags, hwpt_flags),
	FLD(iommu_hwpt_alloc, dev_id, NULL),
	FLD(iommu_hwpt_alloc, pt_id, NULL),
	FLD(iommu_hwpt_alloc, out_hwpt_id, NULL),
	FLD(iommu_hwpt_alloc, __reserved, NULL),
	FLD(iommu_hwpt_alloc, data_type, hwpt_data_types),
	FLD(iommu_hwpt_alloc, data_len, NULL),
	FLD(iommu_hwpt_alloc, data_uptr, NULL),
	FLD(iommu_hwpt_alloc, fault_id, NULL),
	FLD(iommu_hwpt_alloc, __reserved2, NULL),
	FEND
};

static const struct cli_field hw_info_f[] = {
	FLD(iommu_hw_info, size, NULL),
	FLD(iommu_hw_info, flags, hw_info_flags),
	FLD(iommu_hw_info, dev_id, NULL),
	FLD(iommu_hw_info, data_len, NULL),
	FLD(iommu_hw_info, data_uptr, NULL),
	FLD(iommu_hw_info, in_data_type, hw_info_types),
	FLD(iommu_hw_info, out_data_type, hw_info_types),
	FLD(iommu_hw_info, out_max_pasid_log2, NULL),
	FLD(iommu_hw_info, out_capabilities, NULL),
	FEND
};

static const struct cli_field set_dirty_f[] = {
	FLD(iommu_hwpt_set_dirty_tracking, size, NULL),
	FLD(iommu_hwpt_set_dirty_tracking, flags, dirty_tracking_flags),
	FLD(iommu_hwpt_set_dirty_tracking, hwpt_id, NULL),
	FLD(iommu_hwpt_set_dirty_tracking, __reserved, NULL),
	FEND
};

static const struct cli_field get_dirty_f[] = {
	FLD(iommu_hwpt_get_dirty_bitmap, size, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, hwpt_id, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, flags, dirty_bitmap_flags),
	FLD(iommu_hwpt_get_dirty_bitmap, __reserved, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, iova, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, length, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, page_size, NULL),
	FLD(iommu_hwpt_get_dirty_bitmap, data, NULL),
	FEND
};

static const struct cli_field invalidate_f[] = {
	FLD(iommu_hwpt_invalidate, size, NULL),
	FLD(iommu_hwpt_invalidate, hwpt_id, NULL),
	FLD(iommu_hwpt_invalidate, data_uptr, NULL),
	FLD(iommu_hwpt_invalidate, data_type, invalidate_types),
	FLD(iommu_hwpt_invalidate, entry_len, NULL),
	FLD(iommu_hwpt_invalidate, entry_num, NULL),
	FLD(iommu_hwpt_invalidate, __reserved, NULL),
	FEND
};

static const struct cli_field fault_alloc_f[] = {
	FLD(iommu_fault_alloc, size, NULL),
	FLD(iommu_fault_alloc, flags, NULL),
	FLD(iommu_fault_alloc, out_fault_id, NULL),
	FLD(iommu_fault_alloc, out_fault_fd, NULL),
	FEND
};

static const struct cli_field viommu_alloc_f[] = {
	FLD(iommu_viommu_alloc, size, NULL),
	FLD(iommu_viommu_alloc, flags, NULL),
	FLD(iommu_viommu_alloc, type, viommu_types),
	FLD(iommu_viommu_alloc, dev_id, NULL),
	FLD(iommu_viommu_alloc, hwpt_id, NULL),
	FLD(iommu_viommu_alloc, out_viommu_id, NULL),
	FLD(iommu_viommu_alloc, data_len, NULL),
	FLD(iommu_viommu_alloc, __reserved, NULL),
	FLD(iommu_viommu_alloc, data_uptr, NULL),
	FEND
};

static const struct cli_field vdevice_alloc_f[] = {
	FLD(iommu_vdevice_alloc, size, NULL),
	FLD(iommu_vdevice_alloc, viommu_id, NULL),
	FLD(iommu_vdevice_alloc, dev_id, NULL),
	FLD(iommu_vdevice_alloc, out_vdevice_id, NULL),
	FLD(iommu_vdevice_alloc, virt_id, NULL),
	FEND
};

static const struct cli_field change_process_f[] = {
	FLD(iommu_ioas_change_process, size, NULL),
	FLD(iommu_ioas_change_process, __reserved, NULL),
	FEND
};

static const struct cli_field veventq_alloc_f[] = {
	FLD(iommu_veventq_alloc, size, NULL),
	FLD(iommu_veventq_alloc, flags, NULL),
	FLD(iommu_veventq_alloc, viommu_id, NULL),
	FLD(iommu_veventq_alloc, type, veventq_types),
	FLD(iommu_veventq_alloc, veventq_depth, NULL),
	FLD(iommu_veventq_alloc, out_veventq_id, NULL),
	FLD(iommu_veventq_alloc, out_veventq_fd, NULL),
	FLD(iommu_veventq_alloc, __reserved, NULL),
	FEND
};

static const struct cli_field hw_queue_alloc_f[] = {
	FLD(iommu_hw_queue_alloc, size, NULL),
	FLD(iommu_hw_queue_alloc, flags, NULL),
	FLD(iommu_hw_queue_alloc, viommu_id, NULL),
	FLD(iommu_hw_queue_alloc, type, hw_queue_types),
	FLD(iommu_hw_queue_alloc, index, NULL),
	FLD(iommu_hw_queue_alloc, out_hw_queue_id, NULL),
	FLD(iommu_hw_queue_alloc, nesting_parent_iova, NULL),
	FLD(iommu_hw_queue_alloc, length, NULL),
	FEND
};

#define T(m, syms) FLD(iommu_test_cmd, m, syms)
static const struct cli_field test_cmd_f[] = {
	T(size, NULL),
	T(op, test_ops),
	T(id, NULL),
	T(__reserved, NULL),
	T(add_reserved.start, NULL),
	T(add_reserved.length, NULL),
	T(mock_domain.out_stdev_id, NULL),
	T(mock_domain.out_hwpt_id, NULL),
	T(mock_domain.out_idev_id, NULL),
	T(mock_domain_flags.out_stdev_id, NULL),
	T(mock_domain_flags.out_hwpt_id, NULL),
	T(mock_domain_flags.out_idev_id, NULL),
	T(mock_domain_flags.dev_flags, NULL),
	T(mock_domain_replace.pt_id, NULL),
	T(check_map.iova, NULL),
	T(check_map.length, NULL),
	T(check_map.uptr, NULL),
	T(check_refs.length, NULL),
	T(check_refs.uptr, NULL),
	T(check_refs.refs, NULL),
	T(create_access.out_access_fd, NULL),
	T(create_access.flags, NULL),
	T(destroy_access_pages.access_pages_id, NULL),
	T(access_pages.flags, NULL),
	T(access_pages.out_access_pages_id, NULL),
	T(access_pages.iova, NULL),
	T(access_pages.length, NULL),
	T(access_pages.uptr, NULL),
	T(access_rw.iova, NULL),
	T(access_rw.length, NULL),
	T(access_rw.uptr, NULL),
	T(access_rw.flags, NULL),
	T(memory_limit.limit, NULL),
	T(access_replace_ioas.ioas_id, NULL),
	T(dirty.flags, NULL),
	T(dirty.iova, NULL),
	T(dirty.length, NULL),
	T(dirty.page_size, NULL),
	T(dirty.uptr, NULL),
	T(dirty.out_nr_dirty, NULL),
	T(check_iotlb.id, NULL),
	T(check_iotlb.iotlb, NULL),
	T(trigger_iopf.dev_id, NULL),
	T(trigger_iopf.pasid, NULL),
	T(trigger_iopf.grpid, NULL),
	T(trigger_iopf.perm, NULL),
	T(trigger_iopf.addr, NULL),
	T(check_dev_cache.id, NULL),
	T(check_dev_cache.cache, NULL),
	T(trigger_vevent.dev_id, NULL),
	T(pasid_attach.pasid, NULL),
	T(pasid_attach.pt_id, NULL),
	T(pasid_replace.pasid, NULL),
	T(pasid_replace.pt_id, NULL),
	T(pasid_detach.pasid, NULL),
	T(pasid_check.pasid, NULL),
	T(pasid_check.hwpt_id, NULL),
	T(last, NULL),
	FEND
};
#undef T

#define IOC(name, st, fields, out)                                         \
	{ #name, IOMMU_##name, sizeof(struct st), fields, out }

static const struct cli_ioctl ioctls[] = {
	IOC(DESTROY, iommu_destroy, destroy_f, NULL),
	IOC(IOAS_ALLOC, iommu_ioas_alloc, ioas_alloc_f, "out_ioas_id"),
	IOC(IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, allow_iovas_f, NULL),
	IOC(IOAS_COPY, iommu_ioas_copy, ioas_copy_f, "dst_iova"),
	IOC(IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, iova_ranges_f,
	    "num_iovas"),
	IOC(IOAS_MAP, iommu_ioas_map, ioas_map_f, "iova"),
	IOC(IOAS_MAP_FILE, iommu_ioas_map_file, ioas_map_file_f, "iova"),
	IOC(IOAS_UNMAP, iommu_ioas_unmap, ioas_unmap_f, "length"),
	IOC(OPTION, iommu_option, option_f, "val64"),
	IOC(VFIO_IOAS, iommu_vfio_ioas, vfio_ioas_f, "ioas_id"),
	IOC(HWPT_ALLOC, iommu_hwpt_alloc, hwpt_alloc_f, "out_hwpt_id"),
	IOC(GET_HW_INFO, iommu_hw_info, hw_info_f, "out_capabilities"),
	IOC(HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking,
	    set_dirty_f, NULL),
	IOC(HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, get_dirty_f,
	    NULL),
	IOC(HWPT_INVALIDATE, iommu_hwpt_invalidate, invalidate_f,
	    "entry_num"),
	IOC(FAULT_QUEUE_ALLOC, iommu_fault_alloc, fault_alloc_f,
	    "out_fault_id"),
	IOC(VIOMMU_ALLOC, iommu_viommu_alloc, viommu_alloc_f,
	    "out_viommu_id"),
	IOC(VDEVICE_ALLOC, iommu_vdevice_alloc, vdevice_alloc_f,
	    "out_vdevice_id"),
	IOC(IOAS_CHANGE_PROCESS, iommu_ioas_change_process,
	    change_process_f, NULL),
	IOC(VEVENTQ_ALLOC, iommu_veventq_alloc, veventq_alloc_f,
	    "out_veventq_id"),
	IOC(HW_QUEUE_ALLOC, iommu_hw_queue_alloc, hw_queue_alloc_f,
	    "out_hw_queue_id"),
	IOC(TEST_CMD, iommu_test_cmd, test_cmd_f, NULL),
};

const struct cli_ioctl *cli_ioctl_find(const char *name)
{
	if (!strncmp(name, "IOMMU_", 6))
		name += 6;
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		if (!strcmp(ioctls[i].name, name))
			return &ioctls[i];
	}
	return NULL;
}

void cli_ioctl_suggest(struct cli_suggest *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++)
		cli_suggest_add(s, ioctls[i].name);
}

const struct cli_field *cli_field_find(const struct cli_ioctl *ioc,
				       const char *name)
{
	for (const struct cli_field *f = ioc->fields; f->name; f++) {
		if (!strcmp(f->name, name))
			return f;
	}
	return NULL;
}

void cli_field_suggest(const struct cli_ioctl *ioc, struct cli_suggest *s)
{
	for (const struct cli_field *f = ioc->fields; f->name; f++)
		cli_suggest_add(s, f->name);
}

static bool sym_eq(const char *a, const char *name, size_t len)
{
	return strlen(a) == len && !strncmp(a, name, len);
}

/* Calls @fn on every symbol table the language knows, extras included. */
static bool each_table(bool (*fn)(const struct cli_sym *t, void *arg),
		       void *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		for (const struct cli_field *f = ioctls[i].fields; f->name;
		     f++) {
			if (f->syms && fn(f->syms, arg))
				return true;
		}
	}
	return fn(extra_consts, arg);
}

struct const_query {
	const char *name;
	size_t len;
	uint64_t value;
	struct cli_suggest *s;
};

static bool find_full(const struct cli_sym *t, void *arg)
{
	struct const_query *q = arg;

	for (; t->name; t++) {
		if (sym_eq(t->full, q->name, q->len)) {
			q->value = t->value;
			return true;
		}
	}
	return false;
}

bool cli_const_find(const char *name, size_t len, const struct cli_sym *local,
		    uint64_t *value)
{
	struct const_query q = { .name = name, .len = len };

	for (const struct cli_sym *t = local; t && t->name; t++) {
		if (sym_eq(t->name, name, len)) {
			*value = t->value;
			return true;
		}
	}
	if (!each_table(find_full, &q))
		return false;
	*value = q.value;
	return true;
}

static bool suggest_full(const struct cli_sym *t, void *arg)
{
	struct const_query *q = arg;

	for (; t->name; t++)
		cli_suggest_add(q->s, t->full);
	return false;
}

void cli_const_suggest(struct cli_suggest *s, const struct cli_sym *local)
{
	struct const_query q = { .s = s };

	for (const struct cli_sym *t = local; t && t->name; t++)
		cli_suggest_add(s, t->name);
	cli_suggest_add(s, "PAGE_SIZE");
	each_table(suggest_full, &q);
}
