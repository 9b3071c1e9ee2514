package tflite

// knownModel records what ../shared/models/MODELS.md says about a file
// that the importer cannot read from the file itself.
type knownModel struct {
	source  string
	license string
	// nominal is the size the network was trained at, where the file
	// declares another: White-box is fully convolutional and was trained
	// on 256x256 crops, but its files declare 224 and 512 inputs.
	nominal int
}

// knownModels is keyed by the files' sha256.
var knownModels = map[string]knownModel{
	"7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02": whiteBox,
	"eea087546bfe1dd951c01713af5fbc527c5a351ccf2db3a166e202db5eb5c90b": whiteBox,
	"7d9157db18ad9238a7189c4f56786dbb865f980e219c167def0988fc67ffe5e0": {
		source:  "AnimeGANv2 Hayao generator, from github.com/terryky/tflite_gles_app at commit bfc2015a6d1234deebc9574798b175a6d1b2afc2 (repository MIT)",
		license: "non-commercial (AnimeGANv2 terms)",
		nominal: 256,
	},
}

var whiteBox = knownModel{
	source: "White-box Cartoonization generator (Wang & Yu, CVPR 2020), weights from SystemErrorWang/White-box-Cartoonization, " +
		"file from github.com/margaretmz/Cartoonizer-with-TFLite at commit b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9, android/app/src/main/ml/ (repository Apache-2.0)",
	license: "CC BY-NC-SA 4.0",
	nominal: 256,
}
