# Static checks beyond go vet, and the exported API kept on purpose.
#
# staticcheck comes from the module proxy at a pinned version (`go run`
# builds it into Go's cache; nothing is installed). api.txt is `go doc -all`
# of the package: a change to an exported signature or doc shows up as a
# diff here, so it is made on purpose (`make api` rewrites it).

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: staticcheck api api-check

staticcheck:
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags ipcarc_faults .
	cd prometheus && $(GO) run $(STATICCHECK) ./...

api:
	$(GO) doc -all . > api.txt

api-check:
	@$(GO) doc -all . | diff -u api.txt - || { echo "make: the exported API changed: review the diff, then run make api"; exit 1; }

TEST_EXTRA += staticcheck api-check
