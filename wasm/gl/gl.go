//go:build js && wasm

// Package gl is a thin typed wrapper over the WebGL2 calls the engine uses,
// through syscall/js. Setup calls are plain methods. Calls made every frame
// are prepared once as Calls (a bound function plus its boxed arguments), so
// that replaying a frame converts and allocates nothing on the Go side.
package gl

import (
	"encoding/binary"
	"math"
	"syscall/js"
)

// Enums (fixed by the WebGL2 specification).
const (
	TEXTURE_2D                   = 0x0DE1
	TEXTURE_2D_ARRAY             = 0x8C1A
	RGBA                         = 0x1908
	RGBA8                        = 0x8058
	RGBA16F                      = 0x881A
	RGBA32F                      = 0x8814
	FLOAT                        = 0x1406
	UNSIGNED_BYTE                = 0x1401
	FRAMEBUFFER                  = 0x8D40
	READ_FRAMEBUFFER             = 0x8CA8
	FRAMEBUFFER_COMPLETE         = 0x8CD5
	COLOR_ATTACHMENT0            = 0x8CE0
	TEXTURE0                     = 0x84C0
	TEXTURE_MAG_FILTER           = 0x2800
	TEXTURE_MIN_FILTER           = 0x2801
	TEXTURE_WRAP_S               = 0x2802
	TEXTURE_WRAP_T               = 0x2803
	NEAREST                      = 0x2600
	LINEAR                       = 0x2601
	CLAMP_TO_EDGE                = 0x812F
	FRAGMENT_SHADER              = 0x8B30
	VERTEX_SHADER                = 0x8B31
	COMPILE_STATUS               = 0x8B81
	LINK_STATUS                  = 0x8B82
	COMPLETION_STATUS_KHR        = 0x91B1
	TRIANGLES                    = 0x0004
	MAX_TEXTURE_SIZE             = 0x0D33
	MAX_ARRAY_TEXTURE_LAYERS     = 0x88FF
	MAX_DRAW_BUFFERS             = 0x8824
	MAX_FRAGMENT_UNIFORM_VECTORS = 0x8DFD
	RENDERER                     = 0x1F01
	UNMASKED_RENDERER_WEBGL      = 0x9246
	UNPACK_FLIP_Y_WEBGL          = 0x9240
	UNPACK_PREMULTIPLY_ALPHA     = 0x9241
	UNPACK_COLORSPACE_CONVERSION = 0x9243
	UNPACK_ALIGNMENT             = 0x0CF5
	PACK_ALIGNMENT               = 0x0D05
	BLEND                        = 0x0BE2
	DITHER                       = 0x0BD0
	DEPTH_TEST                   = 0x0B71
	NONE                         = 0
)

// Context is a WebGL2RenderingContext.
type Context struct {
	js.Value
	bound map[string]js.Value
}

// New wraps a WebGL2 context.
func New(v js.Value) *Context { return &Context{Value: v, bound: map[string]js.Value{}} }

// Call is a prepared WebGL call; Do runs it. The arguments were boxed once
// when it was prepared.
type Call struct {
	fn   js.Value
	args []any
}

// Do runs the call.
func (c Call) Do() { c.fn.Invoke(c.args...) }

// Prepare returns the call gl.name(args...), to be run later, maybe often.
func (c *Context) Prepare(name string, args ...any) Call {
	fn, ok := c.bound[name]
	if !ok {
		fn = c.Get(name).Call("bind", c.Value)
		c.bound[name] = fn
	}
	return Call{fn: fn, args: args}
}

// Int returns gl.getParameter(p) as an int.
func (c *Context) Int(p int) int { return c.Call("getParameter", p).Int() }

// Extension enables and returns an extension (null when unsupported).
func (c *Context) Extension(name string) js.Value { return c.Call("getExtension", name) }

// Texture2DArray creates an immutable w x h x layers texture array for
// texelFetch (nearest, clamped).
func (c *Context) Texture2DArray(format, w, h, layers int) js.Value {
	t := c.Call("createTexture")
	c.Call("bindTexture", TEXTURE_2D_ARRAY, t)
	c.Call("texStorage3D", TEXTURE_2D_ARRAY, 1, format, w, h, layers)
	c.params(TEXTURE_2D_ARRAY, NEAREST)
	return t
}

// Texture2D creates a 2D texture with the given filter, without storage.
func (c *Context) Texture2D(filter int) js.Value {
	t := c.Call("createTexture")
	c.Call("bindTexture", TEXTURE_2D, t)
	c.params(TEXTURE_2D, filter)
	return t
}

func (c *Context) params(target, filter int) {
	c.Call("texParameteri", target, TEXTURE_MIN_FILTER, filter)
	c.Call("texParameteri", target, TEXTURE_MAG_FILTER, filter)
	c.Call("texParameteri", target, TEXTURE_WRAP_S, CLAMP_TO_EDGE)
	c.Call("texParameteri", target, TEXTURE_WRAP_T, CLAMP_TO_EDGE)
}

// Framebuffer creates a framebuffer drawing to layers first..first+n-1 of
// tex (its completeness: Status).
func (c *Context) Framebuffer(tex js.Value, first, n int) js.Value {
	fb := c.Call("createFramebuffer")
	c.Call("bindFramebuffer", FRAMEBUFFER, fb)
	bufs := make([]any, n)
	for k := range n {
		c.Call("framebufferTextureLayer", FRAMEBUFFER, COLOR_ATTACHMENT0+k, tex, 0, first+k)
		bufs[k] = COLOR_ATTACHMENT0 + k
	}
	c.Call("drawBuffers", js.ValueOf(bufs))
	c.Call("bindFramebuffer", FRAMEBUFFER, js.Null())
	return fb
}

// Status is framebuffer fb's completeness (checkFramebufferStatus). It
// waits for the GPU process: check one framebuffer of a kind, not each.
func (c *Context) Status(fb js.Value) int {
	c.Call("bindFramebuffer", FRAMEBUFFER, fb)
	s := c.Call("checkFramebufferStatus", FRAMEBUFFER).Int()
	c.Call("bindFramebuffer", FRAMEBUFFER, js.Null())
	return s
}

// Shader creates and compiles a shader; the status is checked later, so
// that drivers can compile all programs in parallel.
func (c *Context) Shader(kind int, src string) js.Value {
	s := c.Call("createShader", kind)
	c.Call("shaderSource", s, src)
	c.Call("compileShader", s)
	return s
}

// Program creates and links a program from compiled shaders.
func (c *Context) Program(vs, fs js.Value) js.Value {
	p := c.Call("createProgram")
	c.Call("attachShader", p, vs)
	c.Call("attachShader", p, fs)
	c.Call("linkProgram", p)
	return p
}

// Linked reports whether p linked; when not, the log names the reason.
func (c *Context) Linked(p, fs js.Value) (bool, string) {
	if c.Call("getProgramParameter", p, LINK_STATUS).Bool() {
		return true, ""
	}
	log := c.Call("getShaderInfoLog", fs).String()
	if log == "" {
		log = c.Call("getProgramInfoLog", p).String()
	}
	return false, log
}

// Ready reports whether a program finished linking (always true without
// KHR_parallel_shader_compile, whose COMPLETION_STATUS_KHR it polls).
func (c *Context) Ready(p js.Value, parallel bool) bool {
	return !parallel || c.Call("getProgramParameter", p, COMPLETION_STATUS_KHR).Bool()
}

// Uniform returns a uniform's location (null when the program does not use
// it; setting a null location is a no-op in WebGL).
func (c *Context) Uniform(p js.Value, name string) js.Value {
	return c.Call("getUniformLocation", p, name)
}

// Float32Array returns a new JS Float32Array holding v.
func Float32Array(v []float32) js.Value {
	return typed("Float32Array", len(v), func(b []byte) {
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
	})
}

// Int32Array returns a new JS Int32Array holding v.
func Int32Array(v []int32) js.Value {
	return typed("Int32Array", len(v), func(b []byte) {
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
	})
}

// typed copies n 4-byte values, written by fill, into a new typed array.
func typed(kind string, n int, fill func([]byte)) js.Value {
	b := make([]byte, 4*n)
	fill(b)
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	return js.Global().Get(kind).New(u8.Get("buffer"))
}

// Float32s copies a JS Float32Array into Go.
func Float32s(a js.Value) []float32 {
	u8 := js.Global().Get("Uint8Array").New(a.Get("buffer"), a.Get("byteOffset"), a.Get("byteLength"))
	b := make([]byte, u8.Length())
	js.CopyBytesToGo(b, u8)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// SetArg replaces argument i of a prepared call (the frame's source image).
func (c Call) SetArg(i int, v any) { c.args[i] = v }
