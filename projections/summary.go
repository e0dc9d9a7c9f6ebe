package projections

import (
	"fmt"
	"strings"

	"github.com/licledger/licledger/domain"
)

// summarize describes a platform event for a person reading the timeline.
// It is part of a projection, so it must be deterministic: it uses only
// the event, and formats instants in UTC.
func summarize(typ string, data any) string {
	switch d := data.(type) {
	case *domain.PlatformRegistered:
		s := "platform registered with management node" + plural(len(d.Nodes)) + " " + strings.Join(d.Nodes, ", ")
		if d.RequestCode != "" {
			s += " (request code " + d.RequestCode + ")"
		}
		return s
	case *domain.NodeChanged:
		if typ == domain.EventPlatformNodeAdded {
			return "management node " + d.Node + " added"
		}
		return "management node " + d.Node + " removed"
	case *domain.LicenseUploaded:
		s := describeLicense(d.License) + " uploaded"
		switch {
		case d.Source == domain.SourceUSBKey && d.KeyID != "":
			s += " for USB key " + d.KeyID
		case d.Source == domain.SourceRequestCode:
			s += " by request code"
		}
		if d.Bundle != "" {
			s += " in bundle " + d.Bundle
		}
		return s
	case *domain.LicenseUploadRejected:
		s := "license upload rejected"
		if d.Reason != "" {
			s += " (" + d.Reason + ")"
		}
		if d.Message != "" {
			s += ": " + d.Message
		}
		if d.Actor != "" {
			s += " [by " + d.Actor + "]"
		}
		return s
	case *domain.LicenseDeleted:
		return "license " + d.License + " deleted"
	case *domain.USBKeyInserted:
		s := "USB key " + d.KeyID + " inserted on node " + d.Node
		if n := len(d.Licenses); n > 0 {
			ids := make([]string, n)
			for i, l := range d.Licenses {
				ids[i] = l.ID
			}
			s += fmt.Sprintf(" carrying %d license%s (%s)", n, plural(n), strings.Join(ids, ", "))
		}
		return s
	case *domain.USBKeyRemoved:
		return "USB key " + d.KeyID + " removed from node " + d.Node
	case *domain.HostAdded:
		return fmt.Sprintf("compute host %s added (%s, %d socket%s)", d.Host, d.Hypervisor, d.Sockets, plural(d.Sockets))
	case *domain.HostRemoved:
		return "compute host " + d.Host + " removed"
	}
	return "event " + typ
}

func describeLicense(l domain.License) string {
	var s string
	if l.Kind == domain.KindBase {
		s = l.Edition + " base license " + l.ID
		if l.Sockets > 0 {
			s += fmt.Sprintf(" (%d socket%s", l.Sockets, plural(l.Sockets))
		} else {
			s += " ("
		}
	} else {
		s = l.Module + " plus license " + l.ID
		if l.Quantity > 0 {
			s += fmt.Sprintf(" (quantity %d", l.Quantity)
		} else {
			s += " ("
		}
	}
	if !strings.HasSuffix(s, "(") {
		s += ", "
	}
	if l.ExpiresAt != nil {
		s += "expires " + l.ExpiresAt.UTC().Format("2006-01-02 15:04 MST") + ")"
	} else {
		s += "never expires)"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
