/* libarchive's functions by their names, called through the table
 * oci_dl_archive loaded (dl.h). Include after <archive.h>, in a module that
 * reaches libarchive only through an archive oci_tar_read_open opened
 * (which loads it). */
#ifndef OCI_DL_ARCHIVE_H
#define OCI_DL_ARCHIVE_H
#include "dl.h"

#define archive_read_new (oci_dl_archive_fns()->read_new)
#define archive_read_support_format_tar (oci_dl_archive_fns()->read_support_format_tar)
#define archive_read_support_filter_gzip (oci_dl_archive_fns()->read_support_filter_gzip)
#define archive_read_support_filter_zstd (oci_dl_archive_fns()->read_support_filter_zstd)
#define archive_read_open_filename (oci_dl_archive_fns()->read_open_filename)
#define archive_read_next_header (oci_dl_archive_fns()->read_next_header)
#define archive_read_data (oci_dl_archive_fns()->read_data)
#define archive_read_data_into_fd (oci_dl_archive_fns()->read_data_into_fd)
#define archive_read_free (oci_dl_archive_fns()->read_free)
#define archive_error_string (oci_dl_archive_fns()->error_string)
#define archive_entry_pathname (oci_dl_archive_fns()->entry_pathname)
#define archive_entry_filetype (oci_dl_archive_fns()->entry_filetype)
#endif
