package hid

import (
	"strconv"
	"strings"

	"github.com/licledger/licledger/domain"
)

// ParseUSBID parses a USB vendor or product id as lsusb prints it:
// hexadecimal, with or without a 0x prefix ("096e", "0x096E").
func ParseUSBID(s string) (uint16, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if h == "" || len(h) > 4 {
		return 0, domain.Errorf(domain.EINVALID, "USB id %q must be 1 to 4 hexadecimal digits, e.g. 0x096e", s)
	}
	v, err := strconv.ParseUint(h, 16, 16)
	if err != nil {
		return 0, domain.Errorf(domain.EINVALID, "USB id %q must be 1 to 4 hexadecimal digits, e.g. 0x096e", s)
	}
	return uint16(v), nil
}
