module github.com/edgetoon/edgetoon

go 1.26.8

require (
	github.com/andybalholm/brotli v1.3.0
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/google/flatbuffers v25.12.19+incompatible
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e
	golang.org/x/image v0.48.0
	google.golang.org/protobuf v1.36.12
)

require github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
