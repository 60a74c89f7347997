// SPDX-License-Identifier: Apache-2.0 OR MIT
/*
 * label-ioctl: issues raw label commands on an nmem device, as a guest program that
 * bypasses ndctl's own checks would, and prints what came back. Built static by
 * tests/linux_acpi.rs and run inside the test guest (scripts/nvdimm-linux.sh).
 *
 *   label-ioctl /dev/nmemN < REQUESTS
 *
 * REQUESTS has one request a line: "size", "read OFFSET LENGTH" or "write OFFSET
 * LENGTH" (numbers in C notation). Each becomes one ND_IOCTL_GET_CONFIG_SIZE,
 * ND_IOCTL_GET_CONFIG_DATA or ND_IOCTL_SET_CONFIG_DATA (Linux
 * include/uapi/linux/ndctl.h). A write's byte at area position p of request number
 * SEQ (counting lines from 1) is (p * 7 + SEQ * 29 + 3) mod 256.
 *
 * Output, one line a request: SEQ OP OFFSET LENGTH RET ERRNO STATUS EXTRA, where RET
 * is the ioctl's return value, ERRNO its errno (0 on success), STATUS the firmware
 * status field as the kernel copied it back (0xffffffff, what this program puts there,
 * if nothing overwrote it) and EXTRA the size and maximum transfer for "size", the
 * FNV-1a 64 hash of the bytes a read returned, or "-".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ndctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Requests up to this length get a real buffer; longer ones a header only (the kernel
 * must refuse them before it reads the payload, or the ioctl fails with EFAULT). */
#define MAX_ALLOC (8u << 20)
#define UNSET 0xffffffffu

static uint8_t pattern(uint32_t seq, uint32_t pos)
{
	return (uint8_t)(pos * 7u + seq * 29u + 3u);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void size_cmd(int fd, uint32_t seq)
{
	struct nd_cmd_get_config_size s;
	int ret, err;

	memset(&s, 0xff, sizeof(s));
	ret = ioctl(fd, ND_IOCTL_GET_CONFIG_SIZE, &s);
	err = ret < 0 ? errno : 0;
	printf("%u size 0 0 %d %d %#x %#x/%#x\n", seq, ret, err, s.status,
	       s.config_size, s.max_xfer);
}

static void read_cmd(int fd, uint32_t seq, uint32_t off, uint32_t len)
{
	size_t n = len <= MAX_ALLOC ? len : 0;
	struct nd_cmd_get_config_data_hdr *h = malloc(sizeof(*h) + n);
	int ret, err;

	if (!h) {
		perror("malloc");
		exit(1);
	}
	h->in_offset = off;
	h->in_length = len;
	h->status = UNSET;
	memset(h->out_buf, 0, n);
	ret = ioctl(fd, ND_IOCTL_GET_CONFIG_DATA, h);
	err = ret < 0 ? errno : 0;
	printf("%u read %#x %#x %d %d %#x ", seq, off, len, ret, err, h->status);
	if (ret >= 0 && h->status == 0 && n == len)
		printf("%016llx\n", (unsigned long long)fnv1a(h->out_buf, n));
	else
		printf("-\n");
	free(h);
}

static void write_cmd(int fd, uint32_t seq, uint32_t off, uint32_t len)
{
	size_t n = len <= MAX_ALLOC ? len : 0;
	struct nd_cmd_set_config_hdr *h = malloc(sizeof(*h) + n + 4);
	uint32_t status = UNSET;
	int ret, err;
	size_t i;

	if (!h) {
		perror("malloc");
		exit(1);
	}
	h->in_offset = off;
	h->in_length = len;
	for (i = 0; i < n; i++)
		h->in_buf[i] = pattern(seq, off + (uint32_t)i);
	memcpy(h->in_buf + n, &status, 4);
	ret = ioctl(fd, ND_IOCTL_SET_CONFIG_DATA, h);
	err = ret < 0 ? errno : 0;
	memcpy(&status, h->in_buf + n, 4);
	printf("%u write %#x %#x %d %d %#x -\n", seq, off, len, ret, err, status);
	free(h);
}

int main(int argc, char **argv)
{
	char line[256], op[16];
	unsigned long long off, len;
	uint32_t seq = 0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/nmemN < requests\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		seq++;
		off = len = 0;
		if (sscanf(line, "%15s %lli %lli", op, &off, &len) < 1)
			continue;
		if (!strcmp(op, "size"))
			size_cmd(fd, seq);
		else if (!strcmp(op, "read"))
			read_cmd(fd, seq, (uint32_t)off, (uint32_t)len);
		else if (!strcmp(op, "write"))
			write_cmd(fd, seq, (uint32_t)off, (uint32_t)len);
		else {
			fprintf(stderr, "line %u: unknown request %s\n", seq, op);
			return 2;
		}
		fflush(stdout);
	}
	return 0;
}
