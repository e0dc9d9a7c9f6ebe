package domain

// This file decodes the data of platform events with jsonReader. Each
// decoder reads exactly the fields of its struct in platform_events.go
// (their json tags), skips unknown fields (the contract lets fields be
// added) and refuses values of the wrong JSON type.

// PlatformEventData decodes the data of a platform event into its struct
// (a pointer: *PlatformRegistered, *NodeChanged, *LicenseUploaded,
// *LicenseUploadRejected, *LicenseDeleted, *USBKeyInserted, *USBKeyRemoved,
// *HostAdded or *HostRemoved) and checks what the fold relies on (ids,
// known sources, kinds, editions, modules and hypervisors). Errors are
// EINVALID and name the event; an unknown type is an error, never skipped.
// Safe for concurrent use.
func PlatformEventData(e Event) (any, error) {
	var (
		v   any
		err error
	)
	switch e.Type {
	case EventPlatformRegistered:
		var d PlatformRegistered
		v, err = &d, decodePlatformRegistered(e.Data, &d)
	case EventPlatformNodeAdded, EventPlatformNodeRemoved:
		var d NodeChanged
		v, err = &d, decodeNodeChanged(e.Data, &d)
	case EventLicenseUploaded:
		var d LicenseUploaded
		v, err = &d, decodeLicenseUploaded(e.Data, &d)
	case EventLicenseUploadRejected:
		var d LicenseUploadRejected
		v, err = &d, decodeUploadRejected(e.Data, &d)
	case EventLicenseDeleted:
		var d LicenseDeleted
		v, err = &d, decodeLicenseDeleted(e.Data, &d)
	case EventUSBKeyInserted:
		var d USBKeyInserted
		v, err = &d, decodeKeyInserted(e.Data, &d)
	case EventUSBKeyRemoved:
		var d USBKeyRemoved
		v, err = &d, decodeKeyRemoved(e.Data, &d)
	case EventHostAdded:
		var d HostAdded
		v, err = &d, decodeHostAdded(e.Data, &d)
	case EventHostRemoved:
		var d HostRemoved
		v, err = &d, decodeHostRemoved(e.Data, &d)
	default:
		return nil, Reasonf(EINVALID, "unknown-event-type", "event %s: unknown platform event type %q", e.ID, e.Type)
	}
	if err != nil {
		return nil, eventError(e, err)
	}
	return v, nil
}

// eventError prefixes a data error with the event it belongs to.
func eventError(e Event, err error) error {
	return &Error{Code: EINVALID, Reason: ErrorReason(err), Message: "event " + e.ID + " (" + e.Type + "): " + ErrorMessage(err)}
}

func decodePlatformRegistered(b []byte, d *PlatformRegistered) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "nodes":
			if r.null() {
				return true, nil
			}
			d.Nodes = []string{}
			return true, r.array(func() error {
				s, err := r.str()
				d.Nodes = append(d.Nodes, s)
				return err
			})
		case "request_code":
			return true, setStr(&r, &d.RequestCode)
		}
		return false, nil
	}, "nodes", "request_code")
	if err := finish(&r, err); err != nil {
		return err
	}
	for _, n := range d.Nodes {
		if err := ValidateID(n); err != nil {
			return Errorf(EINVALID, "node: %s", ErrorMessage(err))
		}
	}
	return nil
}

func decodeNodeChanged(b []byte, d *NodeChanged) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		if string(name) == "node" {
			return true, setStr(&r, &d.Node)
		}
		return false, nil
	}, "node")
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("node", d.Node)
}

func decodeLicenseUploaded(b []byte, d *LicenseUploaded) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "source":
			s, err := r.enum(SourceUSBKey, SourceRequestCode)
			d.Source = s
			return true, err
		case "key_id":
			return true, setStr(&r, &d.KeyID)
		case "bundle":
			return true, setStr(&r, &d.Bundle)
		case "digest":
			return true, setStr(&r, &d.Digest)
		case "license":
			return true, readLicense(&r, &d.License)
		}
		return false, nil
	}, "source", "key_id", "bundle", "digest", "license")
	if err := finish(&r, err); err != nil {
		return err
	}
	switch d.Source {
	case SourceRequestCode:
	case SourceUSBKey:
		if err := validIDField("key_id", d.KeyID); err != nil {
			return Errorf(EINVALID, "a usb-key license names its key: %s", ErrorMessage(err))
		}
	default:
		return Errorf(EINVALID, "source %q is not %q or %q", d.Source, SourceUSBKey, SourceRequestCode)
	}
	return checkLicenseShape(d.License)
}

func decodeUploadRejected(b []byte, d *LicenseUploadRejected) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "digest":
			return true, setStr(&r, &d.Digest)
		case "code":
			return true, setStr(&r, &d.Code)
		case "reason":
			return true, setStr(&r, &d.Reason)
		case "message":
			return true, setStr(&r, &d.Message)
		case "actor":
			return true, setStr(&r, &d.Actor)
		}
		return false, nil
	}, "digest", "code", "reason", "message", "actor")
	return finish(&r, err)
}

func decodeLicenseDeleted(b []byte, d *LicenseDeleted) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		if string(name) == "license" {
			return true, setStr(&r, &d.License)
		}
		return false, nil
	}, "license")
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("license", d.License)
}

func decodeKeyInserted(b []byte, d *USBKeyInserted) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "node":
			return true, setStr(&r, &d.Node)
		case "key_id":
			return true, setStr(&r, &d.KeyID)
		case "licenses":
			if r.null() {
				return true, nil
			}
			d.Licenses = []License{}
			return true, r.array(func() error {
				d.Licenses = append(d.Licenses, License{})
				return readLicense(&r, &d.Licenses[len(d.Licenses)-1])
			})
		}
		return false, nil
	}, "node", "key_id", "licenses")
	if err := finish(&r, err); err != nil {
		return err
	}
	if err := validIDField("node", d.Node); err != nil {
		return err
	}
	if err := validIDField("key_id", d.KeyID); err != nil {
		return err
	}
	for _, l := range d.Licenses {
		if err := checkLicenseShape(l); err != nil {
			return err
		}
	}
	return nil
}

func decodeKeyRemoved(b []byte, d *USBKeyRemoved) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "node":
			return true, setStr(&r, &d.Node)
		case "key_id":
			return true, setStr(&r, &d.KeyID)
		}
		return false, nil
	}, "node", "key_id")
	if err := finish(&r, err); err != nil {
		return err
	}
	if err := validIDField("node", d.Node); err != nil {
		return err
	}
	return validIDField("key_id", d.KeyID)
}

func decodeHostAdded(b []byte, d *HostAdded) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "host":
			return true, setStr(&r, &d.Host)
		case "hypervisor":
			s, err := r.enum(HypervisorKVM, HypervisorVMware, HypervisorARM64)
			d.Hypervisor = s
			return true, err
		case "sockets":
			n, err := r.int()
			d.Sockets = n
			return true, err
		}
		return false, nil
	}, "host", "hypervisor", "sockets")
	if err := finish(&r, err); err != nil {
		return err
	}
	if err := validIDField("host", d.Host); err != nil {
		return err
	}
	if !KnownHypervisor(d.Hypervisor) {
		return Errorf(EINVALID, "host %s: hypervisor %q is not kvm, vmware or arm64", d.Host, d.Hypervisor)
	}
	if d.Sockets < 0 {
		return Errorf(EINVALID, "host %s: negative sockets %d", d.Host, d.Sockets)
	}
	return nil
}

func decodeHostRemoved(b []byte, d *HostRemoved) error {
	r := jsonReader{b: b}
	err := r.object(func(name []byte) (bool, error) {
		if string(name) == "host" {
			return true, setStr(&r, &d.Host)
		}
		return false, nil
	}, "host")
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("host", d.Host)
}

// readLicense reads a license object into l, merging like encoding/json.
func readLicense(r *jsonReader, l *License) error {
	return r.object(func(name []byte) (bool, error) {
		switch string(name) {
		case "id":
			return true, setStr(r, &l.ID)
		case "kind":
			s, err := r.enum(KindBase, KindPlus)
			l.Kind = s
			return true, err
		case "edition":
			s, err := r.enum(EditionCommunity, EditionStandard, EditionEnterpriseTrial, EditionEnterprise)
			l.Edition = s
			return true, err
		case "module":
			b, err := r.strBytes()
			if i := moduleIndexBytes(b); i >= 0 {
				l.Module = catalog[i].Name
			} else {
				l.Module = string(b)
			}
			return true, err
		case "sockets":
			n, err := r.int()
			l.Sockets = n
			return true, err
		case "quantity":
			n, err := r.int()
			l.Quantity = n
			return true, err
		case "issued_at":
			if r.null() {
				return true, nil
			}
			t, err := r.time()
			l.IssuedAt = t
			return true, err
		case "expires_at":
			if r.null() {
				l.ExpiresAt = nil
				return true, nil
			}
			t, err := r.time()
			l.ExpiresAt = &t
			return true, err
		}
		return false, nil
	}, "id", "kind", "edition", "module", "sockets", "quantity", "issued_at", "expires_at")
}

func moduleIndexBytes(b []byte) int {
	for i := range catalog {
		if catalog[i].Name == string(b) {
			return i
		}
	}
	return -1
}

// setStr reads a string into *dst; null leaves *dst unchanged, as
// encoding/json does.
func setStr(r *jsonReader, dst *string) error {
	if r.null() {
		return nil
	}
	s, err := r.str()
	*dst = s
	return err
}

// finish completes a decode: the error of the object read, then trailing
// bytes.
func finish(r *jsonReader, err error) error {
	if err != nil {
		return err
	}
	return r.end()
}

func validIDField(field, id string) error {
	if err := ValidateID(id); err != nil {
		return Errorf(EINVALID, "%s: %s", field, ErrorMessage(err))
	}
	return nil
}

// checkLicenseShape checks what the fold needs to interpret a recorded
// license: a valid id, a known kind with a known edition or module. The
// stricter checks of a new upload (terms, quantities) are in
// validateLicense; history recorded under older rules stays readable.
func checkLicenseShape(l License) error {
	if err := validIDField("license id", l.ID); err != nil {
		return err
	}
	switch l.Kind {
	case KindBase:
		if !KnownEdition(l.Edition) {
			return Errorf(EINVALID, "license %s: unknown edition %q", l.ID, l.Edition)
		}
	case KindPlus:
		if moduleIndex(l.Module) < 0 {
			return Errorf(EINVALID, "license %s: unknown module %q", l.ID, l.Module)
		}
	default:
		return Errorf(EINVALID, "license %s: kind %q is not %q or %q", l.ID, l.Kind, KindBase, KindPlus)
	}
	return nil
}
