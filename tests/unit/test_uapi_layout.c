// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time check that include/uapi/linux/iommufd.h and
 * include/uapi/iommufd_test.h match the kernel ABI tabled in shared/spec
 * (core.md §2.3/§3, hw_queue.md §1, amd_viommu.md §5, kselftest.md §5):
 * every struct size, every field offset and width, every enum and flag
 * value, and every ioctl number. A mismatch fails the build; the program
 * itself only reports how much was checked.
 *
 * Build: cc -std=c11 -I include/uapi -I include tests/unit/test_uapi_layout.c
 */
#include <stddef.h>
#include <stdio.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#define FIELD_SIZE(s, f) sizeof(((struct s *)0)->f)

/* Field f of struct s sits at byte o and is w bytes wide. */
#define FIELD(s, f, o, w)                                                  \
	_Static_assert(offsetof(struct s, f) == (o), #s "." #f " offset"); \
	_Static_assert(FIELD_SIZE(s, f) == (w), #s "." #f " width");

/* Every struct in the spec tables, with its size. */
#define UAPI_STRUCTS(X)                                 \
	X(iommu_destroy, 8)                             \
	X(iommu_ioas_alloc, 12)                         \
	X(iommu_iova_range, 16)                         \
	X(iommu_ioas_iova_ranges, 32)                   \
	X(iommu_ioas_allow_iovas, 24)                   \
	X(iommu_ioas_map, 40)                           \
	X(iommu_ioas_map_file, 40)                      \
	X(iommu_ioas_copy, 40)                          \
	X(iommu_ioas_unmap, 24)                         \
	X(iommu_option, 24)                             \
	X(iommu_vfio_ioas, 12)                          \
	X(iommu_hwpt_vtd_s1, 24)                        \
	X(iommu_hwpt_arm_smmuv3, 16)                    \
	X(iommu_hwpt_amd_guest, 32)                     \
	X(iommu_hwpt_alloc, 48)                         \
	X(iommu_hw_info_vtd, 24)                        \
	X(iommu_hw_info_arm_smmuv3, 40)                 \
	X(iommu_hw_info_tegra241_cmdqv, 8)              \
	X(iommu_hw_info_amd, 16)                        \
	X(iommu_hw_info, 40)                            \
	X(iommu_hwpt_set_dirty_tracking, 16)            \
	X(iommu_hwpt_get_dirty_bitmap, 48)              \
	X(iommu_hwpt_vtd_s1_invalidate, 24)             \
	X(iommu_viommu_arm_smmuv3_invalidate, 16)       \
	X(iommu_hwpt_invalidate, 32)                    \
	X(iommu_hwpt_pgfault, 40)                       \
	X(iommu_hwpt_page_response, 8)                  \
	X(iommu_fault_alloc, 16)                        \
	X(iommu_viommu_tegra241_cmdqv, 16)              \
	X(iommu_viommu_amd, 24)                         \
	X(iommu_viommu_alloc, 40)                       \
	X(iommu_vdevice_alloc, 24)                      \
	X(iommu_ioas_change_process, 8)                 \
	X(iommufd_vevent_header, 8)                     \
	X(iommu_vevent_arm_smmuv3, 32)                  \
	X(iommu_vevent_tegra241_cmdqv, 16)              \
	X(iommu_veventq_alloc, 32)                      \
	X(iommu_hw_queue_alloc, 40)                     \
	X(iommu_test_cmd, 72)                           \
	X(iommu_test_hw_info, 8)                        \
	X(iommu_hwpt_selftest, 4)                       \
	X(iommu_hwpt_invalidate_selftest, 8)            \
	X(iommu_viommu_selftest, 24)                    \
	X(iommu_viommu_invalidate_selftest, 12)         \
	X(iommu_viommu_event_selftest, 4)

#define ASSERT_SIZE(s, n) \
	_Static_assert(sizeof(struct s) == (n), "sizeof(struct " #s ")");
UAPI_STRUCTS(ASSERT_SIZE)

#define COUNT_ONE(s, n) +1
enum { N_STRUCTS = 0 UAPI_STRUCTS(COUNT_ONE) };

/* ---- core.md §3.1 ---- */
FIELD(iommu_destroy, size, 0, 4)
FIELD(iommu_destroy, id, 4, 4)

FIELD(iommu_ioas_alloc, size, 0, 4)
FIELD(iommu_ioas_alloc, flags, 4, 4)
FIELD(iommu_ioas_alloc, out_ioas_id, 8, 4)

FIELD(iommu_iova_range, start, 0, 8)
FIELD(iommu_iova_range, last, 8, 8)

FIELD(iommu_ioas_iova_ranges, size, 0, 4)
FIELD(iommu_ioas_iova_ranges, ioas_id, 4, 4)
FIELD(iommu_ioas_iova_ranges, num_iovas, 8, 4)
FIELD(iommu_ioas_iova_ranges, __reserved, 12, 4)
FIELD(iommu_ioas_iova_ranges, allowed_iovas, 16, 8)
FIELD(iommu_ioas_iova_ranges, out_iova_alignment, 24, 8)

FIELD(iommu_ioas_allow_iovas, size, 0, 4)
FIELD(iommu_ioas_allow_iovas, ioas_id, 4, 4)
FIELD(iommu_ioas_allow_iovas, num_iovas, 8, 4)
FIELD(iommu_ioas_allow_iovas, __reserved, 12, 4)
FIELD(iommu_ioas_allow_iovas, allowed_iovas, 16, 8)

FIELD(iommu_ioas_map, size, 0, 4)
FIELD(iommu_ioas_map, flags, 4, 4)
FIELD(iommu_ioas_map, ioas_id, 8, 4)
FIELD(iommu_ioas_map, __reserved, 12, 4)
FIELD(iommu_ioas_map, user_va, 16, 8)
FIELD(iommu_ioas_map, length, 24, 8)
FIELD(iommu_ioas_map, iova, 32, 8)

FIELD(iommu_ioas_map_file, size, 0, 4)
FIELD(iommu_ioas_map_file, flags, 4, 4)
FIELD(iommu_ioas_map_file, ioas_id, 8, 4)
FIELD(iommu_ioas_map_file, fd, 12, 4)
FIELD(iommu_ioas_map_file, start, 16, 8)
FIELD(iommu_ioas_map_file, length, 24, 8)
FIELD(iommu_ioas_map_file, iova, 32, 8)

FIELD(iommu_ioas_copy, size, 0, 4)
FIELD(iommu_ioas_copy, flags, 4, 4)
FIELD(iommu_ioas_copy, dst_ioas_id, 8, 4)
FIELD(iommu_ioas_copy, src_ioas_id, 12, 4)
FIELD(iommu_ioas_copy, length, 16, 8)
FIELD(iommu_ioas_copy, dst_iova, 24, 8)
FIELD(iommu_ioas_copy, src_iova, 32, 8)

FIELD(iommu_ioas_unmap, size, 0, 4)
FIELD(iommu_ioas_unmap, ioas_id, 4, 4)
FIELD(iommu_ioas_unmap, iova, 8, 8)
FIELD(iommu_ioas_unmap, length, 16, 8)

FIELD(iommu_option, size, 0, 4)
FIELD(iommu_option, option_id, 4, 4)
FIELD(iommu_option, op, 8, 2)
FIELD(iommu_option, __reserved, 10, 2)
FIELD(iommu_option, object_id, 12, 4)
FIELD(iommu_option, val64, 16, 8)

FIELD(iommu_vfio_ioas, size, 0, 4)
FIELD(iommu_vfio_ioas, ioas_id, 4, 4)
FIELD(iommu_vfio_ioas, op, 8, 2)
FIELD(iommu_vfio_ioas, __reserved, 10, 2)

FIELD(iommu_ioas_change_process, size, 0, 4)
FIELD(iommu_ioas_change_process, __reserved, 4, 4)

/* ---- core.md §3.2 ---- */
FIELD(iommu_hwpt_alloc, size, 0, 4)
FIELD(iommu_hwpt_alloc, flags, 4, 4)
FIELD(iommu_hwpt_alloc, dev_id, 8, 4)
FIELD(iommu_hwpt_alloc, pt_id, 12, 4)
FIELD(iommu_hwpt_alloc, out_hwpt_id, 16, 4)
FIELD(iommu_hwpt_alloc, __reserved, 20, 4)
FIELD(iommu_hwpt_alloc, data_type, 24, 4)
FIELD(iommu_hwpt_alloc, data_len, 28, 4)
FIELD(iommu_hwpt_alloc, data_uptr, 32, 8)
FIELD(iommu_hwpt_alloc, fault_id, 40, 4)
FIELD(iommu_hwpt_alloc, __reserved2, 44, 4)

FIELD(iommu_hw_info, size, 0, 4)
FIELD(iommu_hw_info, flags, 4, 4)
FIELD(iommu_hw_info, dev_id, 8, 4)
FIELD(iommu_hw_info, data_len, 12, 4)
FIELD(iommu_hw_info, data_uptr, 16, 8)
FIELD(iommu_hw_info, in_data_type, 24, 4)
FIELD(iommu_hw_info, out_data_type, 24, 4)
FIELD(iommu_hw_info, out_max_pasid_log2, 28, 1)
FIELD(iommu_hw_info, __reserved, 29, 3)
FIELD(iommu_hw_info, out_capabilities, 32, 8)

FIELD(iommu_hwpt_set_dirty_tracking, size, 0, 4)
FIELD(iommu_hwpt_set_dirty_tracking, flags, 4, 4)
FIELD(iommu_hwpt_set_dirty_tracking, hwpt_id, 8, 4)
FIELD(iommu_hwpt_set_dirty_tracking, __reserved, 12, 4)

FIELD(iommu_hwpt_get_dirty_bitmap, size, 0, 4)
FIELD(iommu_hwpt_get_dirty_bitmap, hwpt_id, 4, 4)
FIELD(iommu_hwpt_get_dirty_bitmap, flags, 8, 4)
FIELD(iommu_hwpt_get_dirty_bitmap, __reserved, 12, 4)
FIELD(iommu_hwpt_get_dirty_bitmap, iova, 16, 8)
FIELD(iommu_hwpt_get_dirty_bitmap, length, 24, 8)
FIELD(iommu_hwpt_get_dirty_bitmap, page_size, 32, 8)
FIELD(iommu_hwpt_get_dirty_bitmap, data, 40, 8)

FIELD(iommu_hwpt_invalidate, size, 0, 4)
FIELD(iommu_hwpt_invalidate, hwpt_id, 4, 4)
FIELD(iommu_hwpt_invalidate, data_uptr, 8, 8)
FIELD(iommu_hwpt_invalidate, data_type, 16, 4)
FIELD(iommu_hwpt_invalidate, entry_len, 20, 4)
FIELD(iommu_hwpt_invalidate, entry_num, 24, 4)
FIELD(iommu_hwpt_invalidate, __reserved, 28, 4)

FIELD(iommu_fault_alloc, size, 0, 4)
FIELD(iommu_fault_alloc, flags, 4, 4)
FIELD(iommu_fault_alloc, out_fault_id, 8, 4)
FIELD(iommu_fault_alloc, out_fault_fd, 12, 4)

/* Driver payloads of HWPT_ALLOC, GET_HW_INFO and HWPT_INVALIDATE. */
FIELD(iommu_hwpt_vtd_s1, flags, 0, 8)
FIELD(iommu_hwpt_vtd_s1, pgtbl_addr, 8, 8)
FIELD(iommu_hwpt_vtd_s1, addr_width, 16, 4)
FIELD(iommu_hwpt_vtd_s1, __reserved, 20, 4)

FIELD(iommu_hwpt_arm_smmuv3, ste, 0, 16)
FIELD(iommu_hwpt_amd_guest, dte, 0, 32)

FIELD(iommu_hw_info_vtd, flags, 0, 4)
FIELD(iommu_hw_info_vtd, __reserved, 4, 4)
FIELD(iommu_hw_info_vtd, cap_reg, 8, 8)
FIELD(iommu_hw_info_vtd, ecap_reg, 16, 8)

FIELD(iommu_hw_info_arm_smmuv3, flags, 0, 4)
FIELD(iommu_hw_info_arm_smmuv3, __reserved, 4, 4)
FIELD(iommu_hw_info_arm_smmuv3, idr, 8, 24)
FIELD(iommu_hw_info_arm_smmuv3, iidr, 32, 4)
FIELD(iommu_hw_info_arm_smmuv3, aidr, 36, 4)

FIELD(iommu_hw_info_tegra241_cmdqv, flags, 0, 4)
FIELD(iommu_hw_info_tegra241_cmdqv, version, 4, 1)
FIELD(iommu_hw_info_tegra241_cmdqv, log2vcmdqs, 5, 1)
FIELD(iommu_hw_info_tegra241_cmdqv, log2vsids, 6, 1)
FIELD(iommu_hw_info_tegra241_cmdqv, __reserved, 7, 1)

FIELD(iommu_hw_info_amd, efr, 0, 8)
FIELD(iommu_hw_info_amd, efr2, 8, 8)

FIELD(iommu_hwpt_vtd_s1_invalidate, addr, 0, 8)
FIELD(iommu_hwpt_vtd_s1_invalidate, npages, 8, 8)
FIELD(iommu_hwpt_vtd_s1_invalidate, flags, 16, 4)
FIELD(iommu_hwpt_vtd_s1_invalidate, __reserved, 20, 4)

FIELD(iommu_viommu_arm_smmuv3_invalidate, cmd, 0, 16)

/* Fault queue records. */
FIELD(iommu_hwpt_pgfault, flags, 0, 4)
FIELD(iommu_hwpt_pgfault, dev_id, 4, 4)
FIELD(iommu_hwpt_pgfault, pasid, 8, 4)
FIELD(iommu_hwpt_pgfault, grpid, 12, 4)
FIELD(iommu_hwpt_pgfault, perm, 16, 4)
FIELD(iommu_hwpt_pgfault, __reserved, 20, 4)
FIELD(iommu_hwpt_pgfault, addr, 24, 8)
FIELD(iommu_hwpt_pgfault, length, 32, 4)
FIELD(iommu_hwpt_pgfault, cookie, 36, 4)

FIELD(iommu_hwpt_page_response, cookie, 0, 4)
FIELD(iommu_hwpt_page_response, code, 4, 4)

/* ---- core.md §3.3, hw_queue.md §1.3 ---- */
FIELD(iommu_viommu_alloc, size, 0, 4)
FIELD(iommu_viommu_alloc, flags, 4, 4)
FIELD(iommu_viommu_alloc, type, 8, 4)
FIELD(iommu_viommu_alloc, dev_id, 12, 4)
FIELD(iommu_viommu_alloc, hwpt_id, 16, 4)
FIELD(iommu_viommu_alloc, out_viommu_id, 20, 4)
FIELD(iommu_viommu_alloc, data_len, 24, 4)
FIELD(iommu_viommu_alloc, __reserved, 28, 4)
FIELD(iommu_viommu_alloc, data_uptr, 32, 8)

FIELD(iommu_vdevice_alloc, size, 0, 4)
FIELD(iommu_vdevice_alloc, viommu_id, 4, 4)
FIELD(iommu_vdevice_alloc, dev_id, 8, 4)
FIELD(iommu_vdevice_alloc, out_vdevice_id, 12, 4)
FIELD(iommu_vdevice_alloc, virt_id, 16, 8)

FIELD(iommu_hw_queue_alloc, size, 0, 4)
FIELD(iommu_hw_queue_alloc, flags, 4, 4)
FIELD(iommu_hw_queue_alloc, viommu_id, 8, 4)
FIELD(iommu_hw_queue_alloc, type, 12, 4)
FIELD(iommu_hw_queue_alloc, index, 16, 4)
FIELD(iommu_hw_queue_alloc, out_hw_queue_id, 20, 4)
FIELD(iommu_hw_queue_alloc, nesting_parent_iova, 24, 8)
FIELD(iommu_hw_queue_alloc, length, 32, 8)

FIELD(iommu_veventq_alloc, size, 0, 4)
FIELD(iommu_veventq_alloc, flags, 4, 4)
FIELD(iommu_veventq_alloc, viommu_id, 8, 4)
FIELD(iommu_veventq_alloc, type, 12, 4)
FIELD(iommu_veventq_alloc, veventq_depth, 16, 4)
FIELD(iommu_veventq_alloc, out_veventq_id, 20, 4)
FIELD(iommu_veventq_alloc, out_veventq_fd, 24, 4)
FIELD(iommu_veventq_alloc, __reserved, 28, 4)

FIELD(iommufd_vevent_header, flags, 0, 4)
FIELD(iommufd_vevent_header, sequence, 4, 4)

FIELD(iommu_viommu_tegra241_cmdqv, out_vintf_mmap_offset, 0, 8)
FIELD(iommu_viommu_tegra241_cmdqv, out_vintf_mmap_length, 8, 8)

FIELD(iommu_vevent_arm_smmuv3, evt, 0, 32)
FIELD(iommu_vevent_tegra241_cmdqv, lvcmdq_err_map, 0, 16)

/* ---- amd_viommu.md §5.2 (AMDESE QEMU header layout) ---- */
FIELD(iommu_viommu_amd, features, 0, 4)
FIELD(iommu_viommu_amd, viommu_devid, 4, 4)
FIELD(iommu_viommu_amd, out_vfmmio_mmap_offset, 8, 8)
FIELD(iommu_viommu_amd, kvmfd, 16, 4)
FIELD(iommu_viommu_amd, reserved, 20, 4)

/* ---- kselftest.md §5: struct iommu_test_cmd ---- */
FIELD(iommu_test_cmd, size, 0, 4)
FIELD(iommu_test_cmd, op, 4, 4)
FIELD(iommu_test_cmd, id, 8, 4)
FIELD(iommu_test_cmd, __reserved, 12, 4)
FIELD(iommu_test_cmd, last, 64, 4)

FIELD(iommu_test_cmd, add_reserved.start, 16, 8)
FIELD(iommu_test_cmd, add_reserved.length, 24, 8)

FIELD(iommu_test_cmd, mock_domain.out_stdev_id, 16, 4)
FIELD(iommu_test_cmd, mock_domain.out_hwpt_id, 20, 4)
FIELD(iommu_test_cmd, mock_domain.out_idev_id, 24, 4)

FIELD(iommu_test_cmd, mock_domain_flags.out_stdev_id, 16, 4)
FIELD(iommu_test_cmd, mock_domain_flags.out_hwpt_id, 20, 4)
FIELD(iommu_test_cmd, mock_domain_flags.out_idev_id, 24, 4)
FIELD(iommu_test_cmd, mock_domain_flags.dev_flags, 28, 4)

FIELD(iommu_test_cmd, mock_domain_replace.pt_id, 16, 4)

FIELD(iommu_test_cmd, check_map.iova, 16, 8)
FIELD(iommu_test_cmd, check_map.length, 24, 8)
FIELD(iommu_test_cmd, check_map.uptr, 32, 8)

FIELD(iommu_test_cmd, check_refs.length, 16, 8)
FIELD(iommu_test_cmd, check_refs.uptr, 24, 8)
FIELD(iommu_test_cmd, check_refs.refs, 32, 4)

FIELD(iommu_test_cmd, create_access.out_access_fd, 16, 4)
FIELD(iommu_test_cmd, create_access.flags, 20, 4)

FIELD(iommu_test_cmd, destroy_access_pages.access_pages_id, 16, 4)

FIELD(iommu_test_cmd, access_pages.flags, 16, 4)
FIELD(iommu_test_cmd, access_pages.out_access_pages_id, 20, 4)
FIELD(iommu_test_cmd, access_pages.iova, 24, 8)
FIELD(iommu_test_cmd, access_pages.length, 32, 8)
FIELD(iommu_test_cmd, access_pages.uptr, 40, 8)

FIELD(iommu_test_cmd, access_rw.iova, 16, 8)
FIELD(iommu_test_cmd, access_rw.length, 24, 8)
FIELD(iommu_test_cmd, access_rw.uptr, 32, 8)
FIELD(iommu_test_cmd, access_rw.flags, 40, 4)

FIELD(iommu_test_cmd, memory_limit.limit, 16, 4)

FIELD(iommu_test_cmd, access_replace_ioas.ioas_id, 16, 4)

FIELD(iommu_test_cmd, dirty.flags, 16, 4)
FIELD(iommu_test_cmd, dirty.iova, 24, 8)
FIELD(iommu_test_cmd, dirty.length, 32, 8)
FIELD(iommu_test_cmd, dirty.page_size, 40, 8)
FIELD(iommu_test_cmd, dirty.uptr, 48, 8)
FIELD(iommu_test_cmd, dirty.out_nr_dirty, 56, 8)

FIELD(iommu_test_cmd, check_iotlb.id, 16, 4)
FIELD(iommu_test_cmd, check_iotlb.iotlb, 20, 4)

FIELD(iommu_test_cmd, trigger_iopf.dev_id, 16, 4)
FIELD(iommu_test_cmd, trigger_iopf.pasid, 20, 4)
FIELD(iommu_test_cmd, trigger_iopf.grpid, 24, 4)
FIELD(iommu_test_cmd, trigger_iopf.perm, 28, 4)
FIELD(iommu_test_cmd, trigger_iopf.addr, 32, 8)

FIELD(iommu_test_cmd, check_dev_cache.id, 16, 4)
FIELD(iommu_test_cmd, check_dev_cache.cache, 20, 4)

FIELD(iommu_test_cmd, trigger_vevent.dev_id, 16, 4)

FIELD(iommu_test_cmd, pasid_attach.pasid, 16, 4)
FIELD(iommu_test_cmd, pasid_attach.pt_id, 20, 4)
FIELD(iommu_test_cmd, pasid_replace.pasid, 16, 4)
FIELD(iommu_test_cmd, pasid_replace.pt_id, 20, 4)
FIELD(iommu_test_cmd, pasid_detach.pasid, 16, 4)
FIELD(iommu_test_cmd, pasid_check.pasid, 16, 4)
FIELD(iommu_test_cmd, pasid_check.hwpt_id, 20, 4)

/* ---- hw_queue.md §1.3: selftest payloads ---- */
FIELD(iommu_test_hw_info, flags, 0, 4)
FIELD(iommu_test_hw_info, test_reg, 4, 4)

FIELD(iommu_hwpt_selftest, iotlb, 0, 4)

FIELD(iommu_hwpt_invalidate_selftest, flags, 0, 4)
FIELD(iommu_hwpt_invalidate_selftest, iotlb_id, 4, 4)

FIELD(iommu_viommu_selftest, in_data, 0, 4)
FIELD(iommu_viommu_selftest, out_data, 4, 4)
FIELD(iommu_viommu_selftest, out_mmap_offset, 8, 8)
FIELD(iommu_viommu_selftest, out_mmap_length, 16, 8)

FIELD(iommu_viommu_invalidate_selftest, flags, 0, 4)
FIELD(iommu_viommu_invalidate_selftest, vdev_id, 4, 4)
FIELD(iommu_viommu_invalidate_selftest, cache_id, 8, 4)

FIELD(iommu_viommu_event_selftest, virt_id, 0, 4)

/*
 * ---- core.md §2.3: minimum sizes (offsetofend of the last mandatory
 * member), which the dispatcher and the selftest's cmd_length rely on ----
 */
#define OFFSETOFEND(s, f) (offsetof(struct s, f) + FIELD_SIZE(s, f))
#define MIN_SIZE(s, f, n) \
	_Static_assert(OFFSETOFEND(s, f) == (n), #s " min_size");
MIN_SIZE(iommu_destroy, id, 8)
MIN_SIZE(iommu_ioas_alloc, out_ioas_id, 12)
MIN_SIZE(iommu_ioas_allow_iovas, allowed_iovas, 24)
MIN_SIZE(iommu_ioas_copy, src_iova, 40)
MIN_SIZE(iommu_ioas_iova_ranges, out_iova_alignment, 32)
MIN_SIZE(iommu_ioas_map, iova, 40)
MIN_SIZE(iommu_ioas_unmap, length, 24)
MIN_SIZE(iommu_option, val64, 24)
MIN_SIZE(iommu_vfio_ioas, __reserved, 12)
MIN_SIZE(iommu_hwpt_alloc, __reserved, 24)
MIN_SIZE(iommu_hw_info, __reserved, 32)
MIN_SIZE(iommu_hwpt_set_dirty_tracking, __reserved, 16)
MIN_SIZE(iommu_hwpt_get_dirty_bitmap, data, 48)
MIN_SIZE(iommu_hwpt_invalidate, __reserved, 32)
MIN_SIZE(iommu_fault_alloc, out_fault_fd, 16)
MIN_SIZE(iommu_ioas_map_file, iova, 40)
MIN_SIZE(iommu_viommu_alloc, out_viommu_id, 24)
MIN_SIZE(iommu_vdevice_alloc, virt_id, 24)
MIN_SIZE(iommu_ioas_change_process, __reserved, 8)
MIN_SIZE(iommu_veventq_alloc, out_veventq_fd, 28)
MIN_SIZE(iommu_hw_queue_alloc, length, 40)
MIN_SIZE(iommu_test_cmd, last, 68)

/* ---- ioctl numbers (core.md §2.1/§2.3, hw_queue.md §1.1) ---- */
#define IOCTL_NR(req, nr)                                                  \
	_Static_assert(_IOC_NR(req) == (nr), #req " nr");                 \
	_Static_assert(_IOC_TYPE(req) == ';', #req " type");              \
	_Static_assert(_IOC_DIR(req) == _IOC_NONE, #req " direction");    \
	_Static_assert(_IOC_SIZE(req) == 0, #req " size field");
IOCTL_NR(IOMMU_DESTROY, 0x80)
IOCTL_NR(IOMMU_IOAS_ALLOC, 0x81)
IOCTL_NR(IOMMU_IOAS_ALLOW_IOVAS, 0x82)
IOCTL_NR(IOMMU_IOAS_COPY, 0x83)
IOCTL_NR(IOMMU_IOAS_IOVA_RANGES, 0x84)
IOCTL_NR(IOMMU_IOAS_MAP, 0x85)
IOCTL_NR(IOMMU_IOAS_UNMAP, 0x86)
IOCTL_NR(IOMMU_OPTION, 0x87)
IOCTL_NR(IOMMU_VFIO_IOAS, 0x88)
IOCTL_NR(IOMMU_HWPT_ALLOC, 0x89)
IOCTL_NR(IOMMU_GET_HW_INFO, 0x8a)
IOCTL_NR(IOMMU_HWPT_SET_DIRTY_TRACKING, 0x8b)
IOCTL_NR(IOMMU_HWPT_GET_DIRTY_BITMAP, 0x8c)
IOCTL_NR(IOMMU_HWPT_INVALIDATE, 0x8d)
IOCTL_NR(IOMMU_FAULT_QUEUE_ALLOC, 0x8e)
IOCTL_NR(IOMMU_IOAS_MAP_FILE, 0x8f)
IOCTL_NR(IOMMU_VIOMMU_ALLOC, 0x90)
IOCTL_NR(IOMMU_VDEVICE_ALLOC, 0x91)
IOCTL_NR(IOMMU_IOAS_CHANGE_PROCESS, 0x92)
IOCTL_NR(IOMMU_VEVENTQ_ALLOC, 0x93)
IOCTL_NR(IOMMU_HW_QUEUE_ALLOC, 0x94)
IOCTL_NR(IOMMU_TEST_CMD, 0xa0)

#if defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) || \
	(defined(__riscv) && __riscv_xlen == 64)
/* Full request values where _IOC_NONE is 0. */
_Static_assert(IOMMU_DESTROY == 0x3B80, "IOMMU_DESTROY");
_Static_assert(IOMMU_IOAS_ALLOC == 0x3B81, "IOMMU_IOAS_ALLOC");
_Static_assert(IOMMU_IOAS_ALLOW_IOVAS == 0x3B82, "IOMMU_IOAS_ALLOW_IOVAS");
_Static_assert(IOMMU_IOAS_COPY == 0x3B83, "IOMMU_IOAS_COPY");
_Static_assert(IOMMU_IOAS_IOVA_RANGES == 0x3B84, "IOMMU_IOAS_IOVA_RANGES");
_Static_assert(IOMMU_IOAS_MAP == 0x3B85, "IOMMU_IOAS_MAP");
_Static_assert(IOMMU_IOAS_UNMAP == 0x3B86, "IOMMU_IOAS_UNMAP");
_Static_assert(IOMMU_OPTION == 0x3B87, "IOMMU_OPTION");
_Static_assert(IOMMU_VFIO_IOAS == 0x3B88, "IOMMU_VFIO_IOAS");
_Static_assert(IOMMU_HWPT_ALLOC == 0x3B89, "IOMMU_HWPT_ALLOC");
_Static_assert(IOMMU_GET_HW_INFO == 0x3B8A, "IOMMU_GET_HW_INFO");
_Static_assert(IOMMU_HWPT_SET_DIRTY_TRACKING == 0x3B8B,
	       "IOMMU_HWPT_SET_DIRTY_TRACKING");
_Static_assert(IOMMU_HWPT_GET_DIRTY_BITMAP == 0x3B8C,
	       "IOMMU_HWPT_GET_DIRTY_BITMAP");
_Static_assert(IOMMU_HWPT_INVALIDATE == 0x3B8D, "IOMMU_HWPT_INVALIDATE");
_Static_assert(IOMMU_FAULT_QUEUE_ALLOC == 0x3B8E, "IOMMU_FAULT_QUEUE_ALLOC");
_Static_assert(IOMMU_IOAS_MAP_FILE == 0x3B8F, "IOMMU_IOAS_MAP_FILE");
_Static_assert(IOMMU_VIOMMU_ALLOC == 0x3B90, "IOMMU_VIOMMU_ALLOC");
_Static_assert(IOMMU_VDEVICE_ALLOC == 0x3B91, "IOMMU_VDEVICE_ALLOC");
_Static_assert(IOMMU_IOAS_CHANGE_PROCESS == 0x3B92,
	       "IOMMU_IOAS_CHANGE_PROCESS");
_Static_assert(IOMMU_VEVENTQ_ALLOC == 0x3B93, "IOMMU_VEVENTQ_ALLOC");
_Static_assert(IOMMU_HW_QUEUE_ALLOC == 0x3B94, "IOMMU_HW_QUEUE_ALLOC");
_Static_assert(IOMMU_TEST_CMD == 0x3BA0, "IOMMU_TEST_CMD");
#endif

/* ---- enum and flag values (core.md §3.4, hw_queue.md §1.2, amd §5.3) ---- */
#define VALUE(name, v) _Static_assert((name) == (v), #name);

VALUE(IOMMUFD_TYPE, 0x3B)
VALUE(IOMMUFD_CMD_BASE, 0x80)
VALUE(IOMMUFD_CMD_DESTROY, 0x80)
VALUE(IOMMUFD_CMD_IOAS_ALLOC, 0x81)
VALUE(IOMMUFD_CMD_IOAS_ALLOW_IOVAS, 0x82)
VALUE(IOMMUFD_CMD_IOAS_COPY, 0x83)
VALUE(IOMMUFD_CMD_IOAS_IOVA_RANGES, 0x84)
VALUE(IOMMUFD_CMD_IOAS_MAP, 0x85)
VALUE(IOMMUFD_CMD_IOAS_UNMAP, 0x86)
VALUE(IOMMUFD_CMD_OPTION, 0x87)
VALUE(IOMMUFD_CMD_VFIO_IOAS, 0x88)
VALUE(IOMMUFD_CMD_HWPT_ALLOC, 0x89)
VALUE(IOMMUFD_CMD_GET_HW_INFO, 0x8a)
VALUE(IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING, 0x8b)
VALUE(IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP, 0x8c)
VALUE(IOMMUFD_CMD_HWPT_INVALIDATE, 0x8d)
VALUE(IOMMUFD_CMD_FAULT_QUEUE_ALLOC, 0x8e)
VALUE(IOMMUFD_CMD_IOAS_MAP_FILE, 0x8f)
VALUE(IOMMUFD_CMD_VIOMMU_ALLOC, 0x90)
VALUE(IOMMUFD_CMD_VDEVICE_ALLOC, 0x91)
VALUE(IOMMUFD_CMD_IOAS_CHANGE_PROCESS, 0x92)
VALUE(IOMMUFD_CMD_VEVENTQ_ALLOC, 0x93)
VALUE(IOMMUFD_CMD_HW_QUEUE_ALLOC, 0x94)

VALUE(IOMMU_IOAS_MAP_FIXED_IOVA, 1)
VALUE(IOMMU_IOAS_MAP_WRITEABLE, 2)
VALUE(IOMMU_IOAS_MAP_READABLE, 4)
VALUE(IOMMU_OPTION_RLIMIT_MODE, 0)
VALUE(IOMMU_OPTION_HUGE_PAGES, 1)
VALUE(IOMMU_OPTION_OP_SET, 0)
VALUE(IOMMU_OPTION_OP_GET, 1)
VALUE(IOMMU_VFIO_IOAS_GET, 0)
VALUE(IOMMU_VFIO_IOAS_SET, 1)
VALUE(IOMMU_VFIO_IOAS_CLEAR, 2)

VALUE(IOMMU_HWPT_ALLOC_NEST_PARENT, 1)
VALUE(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, 2)
VALUE(IOMMU_HWPT_FAULT_ID_VALID, 4)
VALUE(IOMMU_HWPT_ALLOC_PASID, 8)
VALUE(IOMMU_VTD_S1_SRE, 1)
VALUE(IOMMU_VTD_S1_EAFE, 2)
VALUE(IOMMU_VTD_S1_WPE, 4)
VALUE(IOMMU_HWPT_DATA_NONE, 0)
VALUE(IOMMU_HWPT_DATA_VTD_S1, 1)
VALUE(IOMMU_HWPT_DATA_ARM_SMMUV3, 2)
VALUE(IOMMU_HWPT_DATA_AMD_GUEST, 3)

VALUE(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, 1)
VALUE(IOMMU_HW_INFO_TYPE_NONE, 0)
VALUE(IOMMU_HW_INFO_TYPE_DEFAULT, 0)
VALUE(IOMMU_HW_INFO_TYPE_INTEL_VTD, 1)
VALUE(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, 2)
VALUE(IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, 3)
VALUE(IOMMU_HW_INFO_TYPE_AMD, 4)
VALUE(IOMMU_HW_CAP_DIRTY_TRACKING, 1)
VALUE(IOMMU_HW_CAP_PCI_PASID_EXEC, 2)
VALUE(IOMMU_HW_CAP_PCI_PASID_PRIV, 4)
VALUE(IOMMU_HW_INFO_FLAG_INPUT_TYPE, 1)

VALUE(IOMMU_HWPT_DIRTY_TRACKING_ENABLE, 1)
VALUE(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, 1)

VALUE(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 0)
VALUE(IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 1)
VALUE(IOMMU_VTD_INV_FLAGS_LEAF, 1)

VALUE(IOMMU_PGFAULT_FLAGS_PASID_VALID, 1)
VALUE(IOMMU_PGFAULT_FLAGS_LAST_PAGE, 2)
VALUE(IOMMU_PGFAULT_PERM_READ, 1)
VALUE(IOMMU_PGFAULT_PERM_WRITE, 2)
VALUE(IOMMU_PGFAULT_PERM_EXEC, 4)
VALUE(IOMMU_PGFAULT_PERM_PRIV, 8)
VALUE(IOMMUFD_PAGE_RESP_SUCCESS, 0)
VALUE(IOMMUFD_PAGE_RESP_INVALID, 1)

VALUE(IOMMU_VIOMMU_TYPE_DEFAULT, 0)
VALUE(IOMMU_VIOMMU_TYPE_ARM_SMMUV3, 1)
VALUE(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, 2)
VALUE(IOMMU_VIOMMU_TYPE_AMD, 3)
VALUE(IOMMU_VIOMMU_TYPE_AMD_TSM, 4)
VALUE(AMD_VIOMMU_FEATURE_SVIOMMU, 1)

VALUE(IOMMU_VEVENTQ_FLAG_LOST_EVENTS, 1)
VALUE(IOMMU_VEVENTQ_TYPE_DEFAULT, 0)
VALUE(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 1)
VALUE(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV, 2)

VALUE(IOMMU_HW_QUEUE_TYPE_DEFAULT, 0)
VALUE(IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV, 1)
VALUE(IOMMU_HW_QUEUE_TYPE_AMD_CMD, 2)
VALUE(IOMMU_HW_QUEUE_TYPE_AMD_EVT, 3)
VALUE(IOMMU_HW_QUEUE_TYPE_AMD_PPR, 4)

/* iommufd_test.h */
VALUE(IOMMU_TEST_OP_ADD_RESERVED, 1)
VALUE(IOMMU_TEST_OP_MOCK_DOMAIN, 2)
VALUE(IOMMU_TEST_OP_MD_CHECK_MAP, 3)
VALUE(IOMMU_TEST_OP_MD_CHECK_REFS, 4)
VALUE(IOMMU_TEST_OP_CREATE_ACCESS, 5)
VALUE(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, 6)
VALUE(IOMMU_TEST_OP_ACCESS_PAGES, 7)
VALUE(IOMMU_TEST_OP_ACCESS_RW, 8)
VALUE(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 9)
VALUE(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 10)
VALUE(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, 11)
VALUE(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, 12)
VALUE(IOMMU_TEST_OP_DIRTY, 13)
VALUE(IOMMU_TEST_OP_MD_CHECK_IOTLB, 14)
VALUE(IOMMU_TEST_OP_TRIGGER_IOPF, 15)
VALUE(IOMMU_TEST_OP_DEV_CHECK_CACHE, 16)
VALUE(IOMMU_TEST_OP_TRIGGER_VEVENT, 17)
VALUE(IOMMU_TEST_OP_PASID_ATTACH, 18)
VALUE(IOMMU_TEST_OP_PASID_REPLACE, 19)
VALUE(IOMMU_TEST_OP_PASID_DETACH, 20)
VALUE(IOMMU_TEST_OP_PASID_CHECK_HWPT, 21)

VALUE(MOCK_APERTURE_START, 0x1000000)
VALUE(MOCK_APERTURE_LAST, 0x7fffffff)
VALUE(MOCK_FLAGS_ACCESS_WRITE, 1)
VALUE(MOCK_FLAGS_ACCESS_SYZ, 0x10000)
VALUE(MOCK_ACCESS_RW_WRITE, 1)
VALUE(MOCK_ACCESS_RW_SLOW_PATH, 4)
VALUE(MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, 1)
VALUE(MOCK_FLAGS_DEVICE_NO_DIRTY, 1)
VALUE(MOCK_FLAGS_DEVICE_HUGE_IOVA, 2)
VALUE(MOCK_FLAGS_DEVICE_PASID, 4)
VALUE(MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, 3)
VALUE(MOCK_NESTED_DOMAIN_IOTLB_NUM, 4)
VALUE(MOCK_DEV_CACHE_ID_MAX, 3)
VALUE(MOCK_DEV_CACHE_NUM, 4)
VALUE(IOMMU_TEST_PASID_RESERVED, 1024)
VALUE(MOCK_PASID_WIDTH, 20)
VALUE(IOMMU_HW_INFO_TYPE_SELFTEST, 0xfeedbeef)
VALUE(IOMMU_HW_INFO_SELFTEST_REGVAL, 0xdeadbeef)
VALUE(IOMMU_HWPT_DATA_SELFTEST, 0xdead)
VALUE(IOMMU_TEST_IOTLB_DEFAULT, 0xbadbeef)
VALUE(IOMMU_TEST_DEV_CACHE_DEFAULT, 0xbaddad)
VALUE(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0xdeadbeef)
VALUE(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 0xdadbeef)
VALUE(IOMMU_TEST_INVALIDATE_FLAG_ALL, 1)
VALUE(IOMMU_VIOMMU_TYPE_SELFTEST, 0xdeadbeef)
VALUE(IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, 0xdeadbeef)
VALUE(IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID, 0xdadbeef)
VALUE(IOMMU_VEVENTQ_TYPE_SELFTEST, 0xbeefbeef)
VALUE(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0xdeadbeef)
VALUE(IOMMU_TEST_HW_QUEUE_MAX, 2)

/* The mock's data types must stay outside the real enums' ranges. */
_Static_assert(IOMMU_HWPT_DATA_SELFTEST > IOMMU_HWPT_DATA_AMD_GUEST,
	       "selftest hwpt data type collides");
_Static_assert(IOMMU_HW_QUEUE_TYPE_SELFTEST > IOMMU_HW_QUEUE_TYPE_AMD_PPR,
	       "selftest hw queue type collides");

int main(void)
{
	printf("uapi layout: %d structs checked\n", (int)N_STRUCTS);
	return 0;
}
