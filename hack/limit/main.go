// The limit of `make bench`: the fastest this machine lets any client write the
// operator's objects, so that the operator's cold start has an honest
// yardstick. A raw writer on client-go, the client every Go operator uses:
//
//   - server-side apply of exactly the bodies the benchmark wrote to -input
//     (one JSON line per namespace: the paths and bodies of its writes, built
//     by the operator's own builders), pre-encoded: no per-request work but
//     the request itself;
//   - one client, so one HTTP/2 connection pool for every request;
//   - client-side rate limiting off;
//   - a sweep: the namespaces are split into one slice per concurrency level,
//     each slice written by that many workers pulling single requests from a
//     shared queue; the rate of every level is reported. Given one level, it
//     is one run over all the namespaces: the benchmark's limit is such a run
//     at the sweep's best level (bench/limit.ts).
//
// Prints one JSON object: {"rates": {"<concurrency>": namespaces per second}, "requests": n}.
//
// With -provision-rate R it is instead the limit of provisioning latency: new
// namespaces at R a second, each as the operator provisions one, with no
// controller between the steps: the namespace created, its objects applied
// together, then the namespace's labels and annotation (the moment it counts as
// provisioned), then its Report. Input lines then carry {namespace, create,
// objects, settle, after}. Prints {"latencies": [seconds from the create
// request to the settle response, one per namespace], "requests": n}. A
// controller also waits for two watch notifications this program skips (its
// own of the new namespace, and an observer's of the annotation): the figures
// are what no operator can beat on this machine.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// One namespace's writes, in the order the operator makes them.
type namespaceWrites struct {
	Namespace string  `json:"namespace"`
	Writes    []write `json:"writes"`
}

type write struct {
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
	// "create": a POST to Path (a collection), as the operator creates a Report; otherwise a server-side apply to Path.
	Method string `json:"method,omitempty"`
}

type result struct {
	Rates    map[string]float64 `json:"rates"`
	Requests int64              `json:"requests"`
}

// One new namespace's steps, in the order the operator takes them.
type provisionPlan struct {
	Namespace string  `json:"namespace"`
	Create    write   `json:"create"`
	Objects   []write `json:"objects"`
	Settle    write   `json:"settle"`
	After     []write `json:"after"`
}

type provisionResult struct {
	Latencies []float64 `json:"latencies"`
	Requests  int64     `json:"requests"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the writer's identity")
	input := flag.String("input", "", "JSON lines: {namespace, writes: [{path, body}]}")
	levels := flag.String("concurrency", "8,16,32,64,128", "comma-separated concurrency levels to sweep")
	fieldManager := flag.String("field-manager", "bench-limit", "field manager of the applies")
	provisionRate := flag.Float64("provision-rate", 0, "new namespaces per second: measure provisioning latency instead of sweeping")
	flag.Parse()
	var err error
	if *provisionRate > 0 {
		err = provision(*kubeconfig, *input, *provisionRate, *fieldManager)
	} else {
		err = run(*kubeconfig, *input, *levels, *fieldManager)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "limit:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, input, levels, fieldManager string) error {
	namespaces, err := readInput(input)
	if err != nil {
		return err
	}
	concurrencies, err := parseLevels(levels)
	if err != nil {
		return err
	}
	client, err := newClient(kubeconfig)
	if err != nil {
		return err
	}
	out := result{Rates: map[string]float64{}}
	slice := (len(namespaces) + len(concurrencies) - 1) / len(concurrencies)
	for i, concurrency := range concurrencies {
		start, end := min(i*slice, len(namespaces)), min((i+1)*slice, len(namespaces))
		if start == end {
			continue
		}
		began := time.Now()
		requests, err := writeAll(client, namespaces[start:end], concurrency, fieldManager)
		if err != nil {
			return err
		}
		out.Requests += requests
		out.Rates[strconv.Itoa(concurrency)] = float64(end-start) / time.Since(began).Seconds()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// Provisions one namespace per plan, started at `rate` a second whatever the
// ones before are doing (an open loop, as namespaces arrive in a cluster).
func provision(kubeconfig, input string, rate float64, fieldManager string) error {
	plans, err := readLines[provisionPlan](input)
	if err != nil {
		return err
	}
	client, err := newClient(kubeconfig)
	if err != nil {
		return err
	}
	out := provisionResult{Latencies: make([]float64, len(plans))}
	var sent atomic.Int64
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err }) }
	send := func(w write) error {
		sent.Add(1)
		return writeOne(client, w, fieldManager)
	}
	var namespaces sync.WaitGroup
	began := time.Now()
	for i, plan := range plans {
		time.Sleep(time.Until(began.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		namespaces.Add(1)
		go func() {
			defer namespaces.Done()
			start := time.Now()
			sent.Add(1)
			if err := client.Post().AbsPath(plan.Create.Path).Body([]byte(plan.Create.Body)).Do(context.Background()).Error(); err != nil {
				fail(fmt.Errorf("create %s: %w", plan.Namespace, err))
				return
			}
			var objects sync.WaitGroup
			for _, w := range plan.Objects {
				objects.Add(1)
				go func() {
					defer objects.Done()
					if err := send(w); err != nil {
						fail(err)
					}
				}()
			}
			objects.Wait()
			if err := send(plan.Settle); err != nil {
				fail(err)
				return
			}
			out.Latencies[i] = time.Since(start).Seconds()
			for _, w := range plan.After {
				if err := send(w); err != nil {
					fail(err)
				}
			}
		}()
	}
	namespaces.Wait()
	if firstErr != nil {
		return firstErr
	}
	out.Requests = sent.Load()
	return json.NewEncoder(os.Stdout).Encode(out)
}

func readInput(path string) ([]namespaceWrites, error) {
	return readLines[namespaceWrites](path)
}

// One JSON value per line.
func readLines[T any](path string) ([]T, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var lines []T
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		var line T
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		lines = append(lines, line)
	}
	return lines, scanner.Err()
}

func parseLevels(text string) ([]int, error) {
	var levels []int
	for _, field := range strings.Split(text, ",") {
		level, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || level < 1 {
			return nil, fmt.Errorf("bad concurrency level %q", field)
		}
		levels = append(levels, level)
	}
	return levels, nil
}

// One REST client for every request: one transport, one HTTP/2 connection pool.
func newClient(kubeconfig string) (*rest.RESTClient, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	config.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	config.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	config.UserAgent = "bench-limit"
	return rest.UnversionedRESTClientFor(config)
}

// Writes every request of the namespaces with `concurrency` workers; returns how many were sent.
func writeAll(client *rest.RESTClient, namespaces []namespaceWrites, concurrency int, fieldManager string) (int64, error) {
	queue := make(chan write)
	var sent atomic.Int64
	var firstErr error
	var once sync.Once
	var workers sync.WaitGroup
	for range concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for w := range queue {
				err := writeOne(client, w, fieldManager)
				sent.Add(1)
				if err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for _, ns := range namespaces {
		for _, w := range ns.Writes {
			queue <- w
		}
	}
	close(queue)
	workers.Wait()
	return sent.Load(), firstErr
}

// One write of a pre-encoded body as the operator makes it: a server-side apply taking over fields
// others own, or a create where the operator creates.
func writeOne(client *rest.RESTClient, w write, fieldManager string) error {
	var err error
	verb := "apply"
	if w.Method == "create" {
		verb = "create"
		err = client.Post().AbsPath(w.Path).Param("fieldManager", fieldManager).
			Body([]byte(w.Body)).Do(context.Background()).Error()
	} else {
		err = client.Patch(types.ApplyPatchType).AbsPath(w.Path).
			Param("fieldManager", fieldManager).Param("force", "true").
			Body([]byte(w.Body)).Do(context.Background()).Error()
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, w.Path, err)
	}
	return nil
}
