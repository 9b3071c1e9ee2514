package latency

import "github.com/edgetoon/edgetoon/model"

// arch and teacher are the exported family builder under the names the
// tests of this package use.
type arch = Arch

var teacher = Teacher

// graph builds a's network, failing the test binary on a bad arch (the
// tests use only valid ones).
func (a Arch) graph() *model.Graph {
	g, err := a.Graph()
	if err != nil {
		panic(err)
	}
	return g
}

type graphBuilder = builder

func newGraph(name string) *builder { return newBuilder(name, "x", 3, 256, 4) }
