// Package latency describes the building blocks whose latency the
// architecture search needs, the tables of block latencies measured on a
// device, and a small MLP that learns to predict a block's latency from
// its configuration.
//
// # Blocks
//
// A [Block] is one unit of GPU work as our WebGL2 planner runs it: a
// convolution with its fusions (bias and activation, a residual add), a
// whole residual block, a standalone upsample-and-add pass, or the guided
// filter that ends the White-box family. [Decompose] splits a
// [model.Graph] into blocks so that a network's predicted latency is the
// sum of its blocks' predictions. It does not restate the planner's
// fusion rules: it plans the graph (kernels.Passes) and names the block
// each pass is, or fails naming a node it cannot:
//
//   - a conv pass, the conv with its activation and at most a residual
//     add folded into its epilogue, is a "conv" block ("residual" with
//     the add); anything else folded or inlined into it is an error;
//   - a conv pass storing conv1 read only by the pass of conv2 ->
//     add(conv2, x), where x is conv1's input, both convs stride 1 with
//     the same kernel and conv2 without activation, is with it one
//     "resblock" block;
//   - a pass storing add(resize_bilinear_x2(a), skip), the resize inlined
//     (the planner does so when a k x k conv reads the sum), is an
//     "upsample_add" block at the size of a;
//   - a 1x1 conv pass computing that add and resize in its fetch (as the
//     planner does for a 1x1 conv) is named as the two blocks it does the
//     work of: the "upsample_add" block, then the "conv" block; the fused
//     pass is not profiled on its own (docs/latency.md);
//   - the passes left over must hold only elementwise ops (add, sub,
//     mul, div) and box means of one shape and one radius, with at least
//     one box mean: they form the "guided_filter" block.
//
// The search in train/ reads the blocks of the family, and their features
// as a closed form in the widths ([FeatureTerms]), from a table this
// package generates, train/latency_features.json ([FeatureTable]; go
// generate ./latency), so these rules and that closed form live here only.
//
// [Catalog] lists the block configurations to profile for the searchable
// family, in a deterministic order. [BlockGraph] turns a block into a
// small network (a prologue of 1x1 convs that computes the block's inputs,
// then the block, with random weights) whose block passes are exactly
// the passes the planner runs for that block inside a network; the
// profiler (wasm/profile.go) times only those. [Arch] is a member of the
// family (widths, and the kernel sides of [KernelConvs]) and [Arch.Graph]
// its network, for whole-network checks.
//
// # Tables
//
// A [Table] is the JSON a profiler run produces (schema [Schema]): the
// device description and one row of latency statistics per block
// configuration. [Parse] and [Read] accept only well-formed, bounded
// tables; [Table.Hash] names a table by the SHA-256 of its canonical form.
//
// # Predictor
//
// [Fit] trains an [MLP] on a table: the inputs are the block features
// listed in [FeatureNames] (see [Features]), standardized; the output is
// the natural log of the median latency in milliseconds. The trained
// weights export as JSON ([MLP.Encode]) that train/latency_mlp.py
// evaluates in torch to the same numbers (checked against the feature
// table's predictions by train/test_latency.py).
package latency

//go:generate go test -run TestFeatureTableCommitted -update .
