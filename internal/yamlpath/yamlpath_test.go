package yamlpath

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestLine(t *testing.T) {
	doc := "a: 1\nlist:\n  - x: 1\n  - x: 2\n    y:\n      z: 3\n"
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"a":            1,
		"list":         2,
		"list[1]":      4,
		"list[1].y.z":  6,
		"list[1].nope": 4,
		"list[9]":      2,
		"missing":      1,
	} {
		if got := Line(&root, path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
}
