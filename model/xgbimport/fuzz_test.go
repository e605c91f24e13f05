package xgbimport_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
)

// FuzzRead feeds the importer arbitrary files: it must refuse or accept
// each without panicking, and a model it accepts must convert or be
// refused, and once converted score and explain a row. CI runs the seeds
// only; `go test -fuzz FuzzRead ./model/xgbimport` searches further.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"synth.model.json", "bank.model.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	tiny := encode(f, tinyModel())
	f.Add(tiny)
	f.Add(bytes.Replace(tiny, []byte(`"left_children":[1,3`), []byte(`"left_children":[1,1`), 1))
	f.Add(bytes.Replace(tiny, []byte(`"num_nodes":"5"`), []byte(`"num_nodes":"99999999"`), 1))
	f.Add(bytes.Replace(tiny, []byte(`[30.5,`), []byte(`[NaN,`), 1))
	f.Add(bytes.Replace(tiny, []byte(`[30.5,`), []byte(`[-Infinity,`), 1))
	f.Add([]byte(`{"learner":{"feature_names":["a"],"learner_model_param":{"num_feature":"1"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := xgbimport.Read(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		var attrs []xgbimport.Attribute
		for i, name := range b.FeatureNames {
			a := xgbimport.Attribute{Column: name, Key: "f" + strconv.Itoa(i), Kind: model.KindNumeric}
			if b.FeatureTypes[i] == "c" {
				a.Kind = model.KindCategorical
				for c := range model.GBDTMaxCategory + 1 {
					a.Categories = append(a.Categories, strconv.Itoa(c))
				}
			}
			attrs = append(attrs, a)
		}
		mp, err := xgbimport.Map(b, attrs, nil, false)
		if err != nil {
			return
		}
		spec, g, err := xgbimport.Convert(b, mp, attrs)
		if err != nil {
			return
		}
		row := make([]float64, spec.Width())
		out := make([]float64, spec.Width())
		for _, v := range []float64{0, 1, math.NaN()} {
			for j := range row {
				row[j] = v
			}
			g.Predict(row)
			g.Contributions(row, out)
		}
	})
}
