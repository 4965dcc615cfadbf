package codec

import (
	"testing"
)

func TestForContentType(t *testing.T) {
	tests := []struct {
		ct   string
		want Codec
	}{
		{"application/json", JSON},
		{"application/x-protobuf", Protobuf},
		{"application/json; charset=utf-8", nil}, // Mesos compares strings: 415
		{"Application/JSON", nil},
		{"application/recordio", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, ok := ForContentType(tt.ct)
		if ok != (tt.want != nil) || got != tt.want {
			t.Errorf("ForContentType(%q) = %v, %v; want %v", tt.ct, got, ok, tt.want)
		}
	}
	if JSON.ContentType() != ContentTypeJSON || Protobuf.ContentType() != ContentTypeProtobuf {
		t.Fatal("ContentType mismatch")
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   Codec // nil: 406
	}{
		{"no header", nil, JSON},
		{"empty value", []string{""}, JSON},
		{"blank values", []string{" ", ""}, JSON},
		{"json", []string{"application/json"}, JSON},
		{"protobuf", []string{"application/x-protobuf"}, Protobuf},
		{"mesos-go sends it twice", []string{"application/x-protobuf", "application/x-protobuf"}, Protobuf},
		{"any", []string{"*/*"}, JSON},
		{"application wildcard", []string{"application/*"}, JSON},
		{"json preferred over higher-q protobuf", []string{"application/x-protobuf, application/json;q=0.1"}, JSON},
		{"json refused, wildcard", []string{"application/json;q=0, */*"}, Protobuf},
		{"json refused in another header", []string{"*/*", "application/json; q=0"}, Protobuf},
		{"both refused", []string{"application/json;q=0,application/x-protobuf;q=0.000,*/*;q=1"}, nil},
		{"only others", []string{"text/html, text/plain"}, nil},
		{"recordio only", []string{"application/recordio"}, nil},
		{"wildcard q=0", []string{"*/*;q=0"}, nil},
		{"params ignored", []string{"application/json; charset=utf-8"}, JSON},
		{"case insensitive", []string{"Application/X-Protobuf"}, Protobuf},
		{"bad q skipped", []string{"application/json;q=abc, application/x-protobuf"}, Protobuf},
		{"garbage only", []string{"garbage"}, nil},
		{"spaces and empty items", []string{" , application/x-protobuf ;q=0.5 ,"}, Protobuf},
		{"specific beats wildcard", []string{"application/*;q=0, application/x-protobuf"}, Protobuf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Negotiate(tt.accept)
			if ok != (tt.want != nil) || got != tt.want {
				t.Fatalf("Negotiate(%q) = %v, %v; want %v", tt.accept, got, ok, tt.want)
			}
		})
	}
}
