package experiment

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

// placeholder is Katib's substitution syntax.
var placeholder = regexp.MustCompile(`\$\{(trialParameters|trialSpec)\.([A-Za-z0-9_]+)\}`)

// renderJob is the trial's Job: the template's Job with each
// ${trialParameters.<name>} replaced by the trial's value of the
// parameter it references, and ${trialSpec.Name} and
// ${trialSpec.Namespace} by the trial's. Errors name the placeholder.
func renderJob(tmpl mlv1.TrialTemplate, a suggest.Assignment, trialName, namespace string) (*batchv1.Job, error) {
	values := map[string]string{"trialSpec.Name": trialName, "trialSpec.Namespace": namespace}
	for _, tp := range tmpl.TrialParameters {
		v, ok := a[tp.Reference]
		if !ok {
			return nil, fmt.Errorf("spec.trialTemplate.trialParameters %s: reference %q is not a parameter of spec.parameters", tp.Name, tp.Reference)
		}
		values["trialParameters."+tp.Name] = v
	}
	var missing []string
	text := placeholder.ReplaceAllStringFunc(string(tmpl.TrialSpec.Raw), func(m string) string {
		key := strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}")
		v, ok := values[key]
		if !ok {
			missing = append(missing, m)
			return m
		}
		quoted, _ := json.Marshal(v) // a value inside a JSON string
		return string(quoted[1 : len(quoted)-1])
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("spec.trialTemplate.trialSpec uses %s, which spec.trialTemplate.trialParameters does not define", strings.Join(missing, ", "))
	}
	var job batchv1.Job
	if err := json.Unmarshal([]byte(text), &job); err != nil {
		return nil, fmt.Errorf("spec.trialTemplate.trialSpec is not a Job once its parameters are in: %w", err)
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		return nil, fmt.Errorf("spec.trialTemplate.trialSpec is a %s %s: it must be a batch/v1 Job", job.APIVersion, job.Kind)
	}
	return &job, nil
}

// primaryContainer checks that the Job has the named container.
func primaryContainer(job *batchv1.Job, name string) error {
	for _, c := range job.Spec.Template.Spec.Containers {
		if c.Name == name {
			return nil
		}
	}
	var names []string
	for _, c := range job.Spec.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	return fmt.Errorf("spec.trialTemplate.primaryContainerName %q is not a container of the trial's Job (it has %s)", name, strings.Join(names, ", "))
}
