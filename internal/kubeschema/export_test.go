package kubeschema

// ValidateGeneral is Validate with the general JSON Schema validator only.
func (v *Validator) ValidateGeneral(obj map[string]any) error { return v.validate(obj, true) }

// FastKinds lists the compiled kinds the fast validator takes, and those it leaves to the general one.
func (v *Validator) FastKinds() (fast, general []string) {
	for k, e := range v.schemas {
		if e.doc == nil {
			continue // not compiled yet
		}
		if e.fast != nil {
			fast = append(fast, k)
		} else {
			general = append(general, k)
		}
	}
	return fast, general
}
