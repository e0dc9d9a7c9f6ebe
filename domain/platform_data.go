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
		return nil, Reasonf(EINVALID, ReasonUnknownEventType, "event %s: unknown platform event type %q", e.ID, e.Type)
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

// Field names of each data struct (their json tags), in the order the
// decoders below switch on.
var (
	registeredFields = []string{"nodes", "request_code", "customer"}
	nodeFields       = []string{"node"}
	uploadedFields   = []string{"source", "key_id", "bundle", "digest", "license"}
	rejectedFields   = []string{"digest", "code", "reason", "message", "actor"}
	deletedFields    = []string{"license"}
	insertedFields   = []string{"node", "key_id", "licenses"}
	removedFields    = []string{"node", "key_id"}
	hostAddedFields  = []string{"host", "hypervisor", "sockets"}
	hostFields       = []string{"host"}
	licenseFields    = []string{"id", "kind", "edition", "module", "sockets", "quantity", "issued_at", "expires_at"}
)

func decodePlatformRegistered(b []byte, d *PlatformRegistered) error {
	r := jsonReader{b: b}
	err := r.object(registeredFields, func(i int) error {
		if i == 1 {
			return setStr(&r, &d.RequestCode)
		}
		if i == 2 {
			return setStr(&r, &d.Customer)
		}
		if r.null() {
			return nil
		}
		d.Nodes = []string{}
		return r.array(func() error {
			s, err := r.str()
			d.Nodes = append(d.Nodes, s)
			return err
		})
	})
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
	err := r.object(nodeFields, func(int) error { return setStr(&r, &d.Node) })
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("node", d.Node)
}

func decodeLicenseUploaded(b []byte, d *LicenseUploaded) error {
	r := jsonReader{b: b}
	err := r.object(uploadedFields, func(i int) error {
		switch i {
		case 0:
			return setEnum(&r, &d.Source, SourceUSBKey, SourceRequestCode)
		case 1:
			return setStr(&r, &d.KeyID)
		case 2:
			return setStr(&r, &d.Bundle)
		case 3:
			return setStr(&r, &d.Digest)
		}
		return readLicense(&r, &d.License)
	})
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
	err := r.object(rejectedFields, func(i int) error {
		return setStr(&r, [...]*string{&d.Digest, &d.Code, &d.Reason, &d.Message, &d.Actor}[i])
	})
	return finish(&r, err)
}

func decodeLicenseDeleted(b []byte, d *LicenseDeleted) error {
	r := jsonReader{b: b}
	err := r.object(deletedFields, func(int) error { return setStr(&r, &d.License) })
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("license", d.License)
}

func decodeKeyInserted(b []byte, d *USBKeyInserted) error {
	r := jsonReader{b: b}
	err := r.object(insertedFields, func(i int) error {
		switch i {
		case 0:
			return setStr(&r, &d.Node)
		case 1:
			return setStr(&r, &d.KeyID)
		}
		if r.null() {
			return nil
		}
		d.Licenses = []License{}
		return r.array(func() error {
			d.Licenses = append(d.Licenses, License{})
			return readLicense(&r, &d.Licenses[len(d.Licenses)-1])
		})
	})
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
	err := r.object(removedFields, func(i int) error {
		if i == 0 {
			return setStr(&r, &d.Node)
		}
		return setStr(&r, &d.KeyID)
	})
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
	err := r.object(hostAddedFields, func(i int) error {
		switch i {
		case 0:
			return setStr(&r, &d.Host)
		case 1:
			return setEnum(&r, &d.Hypervisor, HypervisorKVM, HypervisorVMware, HypervisorARM64)
		}
		return setInt(&r, &d.Sockets)
	})
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
	err := r.object(hostFields, func(int) error { return setStr(&r, &d.Host) })
	if err := finish(&r, err); err != nil {
		return err
	}
	return validIDField("host", d.Host)
}

// readLicense reads a license object into l.
func readLicense(r *jsonReader, l *License) error {
	return r.object(licenseFields, func(i int) error {
		switch i {
		case 0:
			return setStr(r, &l.ID)
		case 1:
			return setEnum(r, &l.Kind, KindBase, KindPlus)
		case 2:
			return setEnum(r, &l.Edition, EditionCommunity, EditionStandard, EditionEnterpriseTrial, EditionEnterprise)
		case 3:
			b, null, err := r.strBytes()
			if i := moduleIndexBytes(b); i >= 0 {
				l.Module = catalog[i].Name
			} else if !null {
				l.Module = string(b)
			}
			return err
		case 4:
			return setInt(r, &l.Sockets)
		case 5:
			return setInt(r, &l.Quantity)
		case 6:
			t, null, err := r.time()
			if !null {
				l.IssuedAt = t
			}
			return err
		}
		t, null, err := r.time()
		if null {
			l.ExpiresAt = nil
		} else {
			l.ExpiresAt = &t
		}
		return err
	})
}

func moduleIndexBytes(b []byte) int {
	for i := range catalog {
		if catalog[i].Name == string(b) {
			return i
		}
	}
	return -1
}

// setEnum reads a string into *dst, sparing the allocation when it is one
// of values; null leaves *dst unchanged, as encoding/json does.
func setEnum(r *jsonReader, dst *string, values ...string) error {
	b, null, err := r.strBytes()
	if !null && err == nil {
		*dst = intern(b, values...)
	}
	return err
}

// setInt reads an integer into *dst; null leaves it unchanged.
func setInt(r *jsonReader, dst *int) error {
	n, null, err := r.int()
	if !null && err == nil {
		*dst = n
	}
	return err
}

// setStr reads a string into *dst; null leaves *dst unchanged, as
// encoding/json does.
func setStr(r *jsonReader, dst *string) error {
	b, null, err := r.strBytes()
	if !null && err == nil {
		*dst = string(b)
	}
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
// ValidateLicense; history recorded under older rules stays readable.
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
