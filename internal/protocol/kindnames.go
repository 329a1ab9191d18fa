package protocol

import "sort"

// KindNames returns the names of the shipped channel kinds, sorted: the
// values of the kind label on per-kind metrics.
func KindNames() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
